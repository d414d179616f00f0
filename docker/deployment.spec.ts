import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

/*
 * Docker cannot run on the build machines, so what can be checked without it is checked here:
 * the compose file and the Prometheus configuration are well-formed YAML describing the cluster
 * the README promises, and the Dockerfile builds with the README's commands.
 */

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface Service {
  readonly image?: string;
  readonly build?: { readonly context: string; readonly dockerfile: string };
  readonly command?: readonly string[];
  readonly environment?: Readonly<Record<string, string>>;
  readonly ports?: readonly string[];
  readonly volumes?: readonly string[];
  readonly healthcheck?: { readonly test: readonly string[] };
}

const compose = yaml.load(read('docker/compose.yaml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const named = (prefix: string): [string, Service][] => Object.entries(services).filter(([name]) => name.startsWith(prefix));
const flag = (command: readonly string[] | undefined, name: string): string | undefined => command?.[command.indexOf(name) + 1];

describe('docker/compose.yaml', () => {
  it('runs three NATS servers clustered with JetStream, each routed to the other two', () => {
    const nats = named('nats-');
    expect(nats.map(([name]) => name)).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const [name, service] of nats) {
      expect(service.image).toMatch(/^nats:/);
      expect(service.command).toContain('-js');
      expect(flag(service.command, '--cluster_name')).toBe('merklekv');
      const routes = flag(service.command, '--routes')!.split(',');
      expect(routes.sort()).toEqual(nats.filter(([other]) => other !== name).map(([other]) => `nats://${other}:6222`));
      const config = flag(service.command, '-c');
      expect(service.volumes).toContain(`./nats.conf:${config}:ro`);
      expect(service.volumes).toContain(`${name}:/data`);
    }
    expect(existsSync(join(here, 'nats.conf'))).toBe(true);
  });

  it('runs three nodes from the Dockerfile, on every NATS server, tracing to Jaeger, with their own ids and volumes', () => {
    const nodes = named('node-');
    expect(nodes).toHaveLength(3);
    const ids = new Set<string>();
    for (const [name, service] of nodes) {
      expect(service.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
      const env = service.environment!;
      expect(env['MERKLEKV_NATS']!.split(',').sort()).toEqual(['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222']);
      expect(env['OTEL_EXPORTER_OTLP_ENDPOINT']).toBe('http://jaeger:4318');
      ids.add(env['MERKLEKV_NODE_ID']!);
      expect(service.volumes).toEqual([`${name}:/data`]);
      expect(service.ports).toContain(`${8080 + nodes.findIndex(([n]) => n === name)}:8080`);
      expect(service.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:8080/readyz');
    }
    expect(ids.size).toBe(3);
    for (const volume of [...named('nats-'), ...nodes].map(([name]) => name)) expect(compose.volumes).toHaveProperty(volume);
  });

  it('runs Jaeger with OTLP and Prometheus scraping every node', () => {
    expect(services['jaeger']!.image).toMatch(/^jaegertracing\//);
    expect(services['jaeger']!.environment).toMatchObject({ COLLECTOR_OTLP_ENABLED: 'true' });
    expect(services['prometheus']!.volumes).toContain('./prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    const prometheus = yaml.load(read('docker/prometheus.yml')) as { scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[] };
    const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((c) => c.targets));
    expect(targets.sort()).toEqual(named('node-').map(([name]) => `${name}:8080`));
    expect(prometheus.scrape_configs.every((job) => (job.metrics_path ?? '/metrics') === '/metrics')).toBe(true);
  });
});

describe('docker/Dockerfile', () => {
  const dockerfile = read('docker/Dockerfile');
  const instructions = dockerfile
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.trim());

  it("builds with the README's commands", () => {
    const buildStage = instructions.slice(0, instructions.findIndex((line, i) => i > 0 && line.startsWith('FROM ')));
    const fromDocker = buildStage.filter((line) => line.startsWith('RUN npm')).flatMap((line) => line.slice(4).split('&&').map((c) => c.trim()));
    const readme = read('README.md');
    const block = /The image builds the way a checkout does[^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const fromReadme = block![1]!
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter((line) => line !== '')
      .flatMap((line) => line.split('&&').map((c) => c.trim()));
    expect(fromDocker).toEqual(fromReadme);
    expect(fromDocker).toContain('npm run build');
  });

  it('copies files that exist, runs as a non-root user with a data volume, and starts the node', () => {
    for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
      for (const source of line.split(/\s+/).slice(1, -1)) if (source !== '.') expect(existsSync(join(root, source))).toBe(true);
    }
    expect(instructions).toContain('USER merklekv');
    expect(instructions).toContain('VOLUME /data');
    expect(instructions.find((l) => l.startsWith('ENTRYPOINT'))).toContain('dist/apps/node/src/main.js');
    expect(existsSync(join(root, 'apps/node/src/main.ts'))).toBe(true);
  });
});
