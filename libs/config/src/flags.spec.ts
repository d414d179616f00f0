import fc from 'fast-check';
import { CONFIG_REFERENCE, ConfigError, helpRequested, parseFlags, type ParsedFlags } from '#config';

const pairs = (parsed: ParsedFlags): [string, string][] => parsed.values.map((v) => [v.flag, v.raw]);

function failure(argv: string[]): ConfigError {
  try {
    parseFlags(argv);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseFlags', () => {
  it('reads --flag value and --flag=value, in order, with --config apart', () => {
    const parsed = parseFlags(['--port', '1', '--config=a.toml', '--host=::1', '--nats', 'a:1,b:2', '--nats=c:3']);
    expect(parsed.config).toBe('a.toml');
    expect(parsed.help).toBe(false);
    expect(pairs(parsed)).toEqual([
      ['--port', '1'],
      ['--host', '::1'],
      ['--nats', 'a:1,b:2'],
      ['--nats', 'c:3'],
    ]);
  });

  it('keeps everything after the first = as the value', () => {
    expect(pairs(parseFlags(['--nats=nats://u:p=w@h:4222']))).toEqual([['--nats', 'nats://u:p=w@h:4222']]);
  });

  it('takes a negative number as a value', () => {
    expect(pairs(parseFlags(['--http-port', '-1']))).toEqual([['--http-port', '-1']]);
  });

  it('reads a switch alone as true, and takes the next word only when it is a boolean', () => {
    expect(pairs(parseFlags(['--sync-writes', '--port', '1']))).toEqual([
      ['--sync-writes', 'true'],
      ['--port', '1'],
    ]);
    expect(pairs(parseFlags(['--sync-writes', 'off', '--replication=no']))).toEqual([
      ['--sync-writes', 'off'],
      ['--replication', 'no'],
    ]);
    expect(pairs(parseFlags(['--anti-entropy']))).toEqual([['--anti-entropy', 'true']]);
    expect(failure(['--sync-writes', 'later']).code).toBe('UNEXPECTED_ARGUMENT');
  });

  it('notes --help and -h wherever they are', () => {
    expect(parseFlags(['--port', '1', '-h']).help).toBe(true);
    expect(helpRequested(['--port', 'abc', '--help'])).toBe(true);
    expect(helpRequested(['--port', '1'])).toBe(false);
  });

  it.each([
    [['--nope'], 'UNKNOWN_FLAG', '--nope'],
    [['-p', '1'], 'UNKNOWN_FLAG', '-p'],
    [['--Port', '1'], 'UNKNOWN_FLAG', '--Port'],
    [['serve'], 'UNEXPECTED_ARGUMENT', 'serve'],
    [['--'], 'UNEXPECTED_ARGUMENT', '--'],
    [['--port', '1', '2'], 'UNEXPECTED_ARGUMENT', '2'],
    [['--port'], 'MISSING_VALUE', 'port'],
    [['--port='], 'MISSING_VALUE', 'port'],
    [['--host', '--port', '1'], 'MISSING_VALUE', 'host'],
    [['--config'], 'MISSING_VALUE', 'config'],
  ] as const)('rejects %j with %s', (argv, code, key) => {
    const err = failure([...argv]);
    expect(err.code).toBe(code);
    expect(err.key).toBe(key);
  });

  it('accepts every documented flag', () => {
    const flags = CONFIG_REFERENCE.flatMap((row) => row.flags);
    expect(flags.length).toBeGreaterThan(20);
    expect(new Set(flags).size).toBe(flags.length);
    for (const flag of flags) expect(() => parseFlags([`${flag}=1`])).not.toThrow();
  });

  it('reads back any sequence of value flags in either form', () => {
    const valueFlags = CONFIG_REFERENCE.filter((r) => r.hint.startsWith('<')).flatMap((r) => r.flags);
    const value = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() !== '' && !s.startsWith('--'));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...valueFlags), value, fc.boolean()), { maxLength: 8 }), (items) => {
        const argv = items.flatMap(([flag, v, inline]) => (inline ? [`${flag}=${v}`] : [flag, v]));
        const expected = items.filter(([flag]) => flag !== '--config').map(([flag, v]) => [flag, v]);
        expect(pairs(parseFlags(argv))).toEqual(expected);
      }),
      { seed: 7379, numRuns: 300 },
    );
  });
});
