/**
 * The command line every benchmark takes: `--name value` (or `--name=value`) flags it declares
 * once, with their defaults and descriptions, and `-h` / `--help`, which prints the usage built
 * from them and starts nothing.
 */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  /** What the flag takes, as the usage shows it: `N`, `S`, `ARG`. */
  readonly hint: string;
  readonly description: string;
  /** As typed on the command line; shown in the usage. */
  readonly default?: string;
  /** Repeatable: the values add up. */
  readonly multiple?: boolean;
  /** Takes no value: present or not (`--tls`). */
  readonly switch?: boolean;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type FlagValue<S extends FlagSpec> = S extends { readonly switch: true } ? boolean : S extends { readonly multiple: true } ? string[] : S extends { readonly default: string } ? string : string | undefined;

export type FlagValues<F extends FlagSpecs> = { readonly [K in keyof F]: FlagValue<F[K]> };

export interface BenchCommandLine<F extends FlagSpecs> {
  /** `mst`, as in `npm run bench:mst`. */
  readonly bench: string;
  readonly flags: F;
  /** Lines after the flags: what the bench starts, where its output goes. */
  readonly notes?: readonly string[];
}

export type ParsedCommandLine<F extends FlagSpecs> =
  | { readonly kind: 'run'; readonly values: FlagValues<F> }
  | { readonly kind: 'help'; readonly usage: string }
  | { readonly kind: 'error'; readonly message: string };

/** The `--help` text. */
export function benchUsage<F extends FlagSpecs>({ bench, flags, notes = [] }: BenchCommandLine<F>): string {
  const rows = Object.entries(flags).map(([name, spec]): [string, string] => [
    spec.switch === true ? `--${name}` : `--${name} ${spec.hint}`,
    `${spec.description}${spec.default === undefined ? '' : ` (default ${spec.default})`}${spec.multiple === true ? '; repeatable' : ''}`,
  ]);
  rows.push(['-h, --help', 'print this and exit']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [`usage: npm run bench:${bench} -- [flags]`, ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`)];
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

/** Parses `argv` (without the script) against the bench's flags; never exits. */
export function parseBenchCommandLine<const F extends FlagSpecs>(commandLine: BenchCommandLine<F>, argv: readonly string[]): ParsedCommandLine<F> {
  const options: Record<string, { type: 'string'; multiple?: boolean; default?: string | string[] } | { type: 'boolean'; short?: string; default?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(commandLine.flags)) {
    options[name] = spec.switch === true ? { type: 'boolean', default: false } :
      spec.multiple === true ? { type: 'string', multiple: true, default: spec.default === undefined ? [] : [spec.default] } : { type: 'string', ...(spec.default === undefined ? {} : { default: spec.default }) };
  }
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
  if (values['help'] === true) return { kind: 'help', usage: benchUsage(commandLine) };
  delete values['help'];
  return { kind: 'run', values: values as FlagValues<F> };
}

/**
 * The bench's flags from `process.argv`. `--help` prints the usage on stdout and exits 0; a
 * flag it does not know, or one without its value, exits 2 with the reason on stderr.
 */
export function benchCommandLine<const F extends FlagSpecs>(commandLine: BenchCommandLine<F>, argv: readonly string[] = process.argv.slice(2)): FlagValues<F> {
  const parsed = parseBenchCommandLine(commandLine, argv);
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.usage);
    process.exit(0);
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`bench:${commandLine.bench}: ${parsed.message} (see --help)\n`);
    process.exit(2);
  }
  return parsed.values;
}
