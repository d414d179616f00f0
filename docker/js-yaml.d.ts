// js-yaml is installed (jest's coverage tooling brings it) but ships no types; the deployment
// spec only parses with it. Declared here rather than added as a dependency.
declare module 'js-yaml' {
  const yaml: { load(text: string): unknown };
  export default yaml;
}
