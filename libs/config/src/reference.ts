import { CONFIG_ENV, CONFIG_FLAG, SETTINGS } from './settings.js';

/** One row of the configuration reference: what `usage()` prints and the README table shows. */
export interface ConfigReferenceRow {
  /** Key in the TOML file (dotted for tables); undefined for `--config` itself. */
  readonly key?: string;
  /** The reference server's (and its README's) spellings of the same key. */
  readonly aliases: readonly string[];
  readonly env?: string;
  /** Documented flag first, then aliases. Empty: file and environment only. */
  readonly flags: readonly string[];
  /** Flag placeholder, e.g. `<port>`. */
  readonly hint: string;
  readonly default: string;
  readonly description: string;
}

export const CONFIG_REFERENCE: readonly ConfigReferenceRow[] = [
  {
    aliases: [],
    env: CONFIG_ENV,
    flags: [CONFIG_FLAG],
    hint: '<path>',
    default: 'none',
    description:
      'TOML config file: ours, or the reference MerkleKV server\'s flat format (unknown keys are warnings). Relative to the working directory.',
  },
  ...SETTINGS.map(
    (s): ConfigReferenceRow => ({
      key: s.key,
      aliases: s.aliases,
      ...(s.env !== undefined && { env: s.env }),
      flags: s.flags,
      hint: s.hint,
      default: s.defaultText,
      description: s.description,
    }),
  ),
];

const WIDTH = 100;

function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

function where(row: ConfigReferenceRow): string {
  const parts = [`Default: ${row.default}.`];
  if (row.env !== undefined) parts.push(`Env: ${row.env}.`);
  if (row.key !== undefined) {
    const keys = [row.key, ...row.aliases].join(', ');
    parts.push(`File: ${keys}.`);
  }
  return parts.join(' ');
}

/** The `--help` text. */
export function usage(): string {
  const out: string[] = [
    'Usage: merklekv [options]',
    '',
    ...wrap(
      'Starts a MerkleKV node. Each setting comes from, lowest precedence first: its default, the TOML file named by --config or MERKLEKV_CONFIG, a MERKLEKV_* environment variable, a flag. Flags take --flag value or --flag=value. Relative paths resolve against the working directory.',
      '',
    ),
    '',
    'Options:',
  ];
  const fileOnly: ConfigReferenceRow[] = [];
  for (const row of CONFIG_REFERENCE) {
    const [flag, ...flagAliases] = row.flags;
    if (flag === undefined) {
      fileOnly.push(row);
      continue;
    }
    const also = flagAliases.length > 0 ? ` (also ${flagAliases.join(', ')})` : '';
    out.push(`  ${flag} ${row.hint}${also}`);
    out.push(...wrap(`${row.description} ${where(row)}`, '      '));
  }
  out.push('  -h, --help', '      Print this help and exit.', '', 'File and environment only:');
  for (const row of fileOnly) {
    out.push(`  ${row.key ?? ''}`);
    out.push(...wrap(`${row.description} ${where(row)}`, '      '));
  }
  return `${out.join('\n')}\n`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');
const code = (items: readonly string[]): string => items.map((i) => `\`${cell(i)}\``).join(', ');

/** The reference as a Markdown table, for the project README. */
export function configReferenceMarkdown(): string {
  const lines = [
    '| file key | environment | flag | default | description |',
    '|---|---|---|---|---|',
    ...CONFIG_REFERENCE.map((row) => {
      const key = row.key === undefined ? '' : code([row.key]);
      const aliases = row.aliases.length > 0 ? ` (also ${code(row.aliases)})` : '';
      const flags = row.flags.length > 0 ? code(row.flags.map((f, i) => (i === 0 ? `${f} ${row.hint}` : f))) : '';
      const env = row.env === undefined ? '' : code([row.env]);
      return `| ${key}${aliases} | ${env} | ${flags} | ${cell(row.default)} | ${cell(row.description)} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}
