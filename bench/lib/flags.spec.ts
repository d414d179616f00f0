import { benchUsage, parseBenchCommandLine } from './flags.js';

const commandLine = {
  bench: 'demo',
  flags: {
    keys: { hint: 'N', description: 'keys to write', default: '1000' },
    'node-arg': { hint: 'ARG', description: 'extra node flag', multiple: true },
    entry: { hint: 'PATH', description: 'script to run' },
  },
  notes: ['Starts nothing.'],
} as const;

describe('parseBenchCommandLine', () => {
  it('gives the defaults when no flag is given', () => {
    expect(parseBenchCommandLine(commandLine, [])).toEqual({ kind: 'run', values: { keys: '1000', 'node-arg': [] } });
  });

  it('takes --flag value, --flag=value and repeated flags', () => {
    expect(parseBenchCommandLine(commandLine, ['--keys', '5', '--node-arg=--shards', '--node-arg', '4', '--entry=x.js'])).toEqual({
      kind: 'run',
      values: { keys: '5', 'node-arg': ['--shards', '4'], entry: 'x.js' },
    });
  });

  it('answers -h and --help with the usage, whatever else is given', () => {
    for (const argv of [['--help'], ['-h'], ['--keys', '5', '--help']]) {
      expect(parseBenchCommandLine(commandLine, argv)).toEqual({ kind: 'help', usage: benchUsage(commandLine) });
    }
  });

  it('refuses an unknown flag, a flag without its value and a bare argument', () => {
    for (const argv of [['--kyes', '5'], ['--keys'], ['run']]) expect(parseBenchCommandLine(commandLine, argv)).toMatchObject({ kind: 'error' });
    expect(parseBenchCommandLine(commandLine, ['--kyes', '5'])).toMatchObject({ message: expect.stringContaining('--kyes') });
  });
});

describe('benchUsage', () => {
  it('lists every flag with what it takes, its default, and the notes', () => {
    expect(benchUsage(commandLine)).toBe(
      [
        'usage: npm run bench:demo -- [flags]',
        '  --keys N        keys to write (default 1000)',
        '  --node-arg ARG  extra node flag; repeatable',
        '  --entry PATH    script to run',
        '  -h, --help      print this and exit',
        '',
        'Starts nothing.',
        '',
      ].join('\n'),
    );
  });
});
