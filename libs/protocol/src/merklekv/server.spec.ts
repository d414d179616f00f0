import { encodeMerkleKvError } from './reply.js';
import { parsed, rejected, replyOf } from '../testing/merklekv.js';

describe('PING / ECHO', () => {
  it('parse an optional (PING) or required (ECHO) message, spaces kept', () => {
    expect(parsed('PING')).toEqual({ name: 'PING' });
    expect(parsed('ping hello  there')).toEqual({ name: 'PING', message: 'hello  there' });
    expect(parsed('ECHO hello  world')).toEqual({ name: 'ECHO', message: 'hello  world' });
    expect(parsed('echo 日本語')).toEqual({ name: 'ECHO', message: '日本語' });
  });

  it.each([
    ['PING a\tb', 'Invalid character: tab character not allowed in message'],
    ['ECHO', 'ECHO command requires arguments'],
    ['ECHO a\tb', 'Invalid character: tab character not allowed in message'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('reply PONG without a trailing space, PONG msg, ECHO msg', () => {
    expect(replyOf({ name: 'PING' }, undefined)).toBe('PONG\r\n');
    expect(replyOf({ name: 'PING', message: '' }, '')).toBe('PONG\r\n');
    expect(replyOf({ name: 'PING', message: 'hi there' }, 'hi there')).toBe('PONG hi there\r\n');
    expect(replyOf({ name: 'ECHO', message: 'é x' }, 'é x')).toBe('ECHO é x\r\n');
  });
});

describe('STATS / INFO', () => {
  it('ignore arguments, as the reference does', () => {
    expect(parsed('STATS')).toEqual({ name: 'STATS' });
    expect(parsed('stats reset')).toEqual({ name: 'STATS' });
    expect(parsed('INFO')).toEqual({ name: 'INFO' });
    expect(parsed('info server')).toEqual({ name: 'INFO' });
  });

  it('reply a title line then key:value lines', () => {
    expect(
      replyOf({ name: 'STATS' }, [
        ['uptime_seconds', '5'],
        ['uptime', '0d 0h 0m 5s'],
        ['total_commands', '9'],
      ]),
    ).toBe('STATS\r\nuptime_seconds:5\r\nuptime:0d 0h 0m 5s\r\ntotal_commands:9\r\n');
    expect(
      replyOf({ name: 'INFO' }, [
        ['version', '0.1.0'],
        ['db_keys', '3'],
      ]),
    ).toBe('INFO\r\nversion:0.1.0\r\ndb_keys:3\r\n');
    expect(replyOf({ name: 'STATS' }, [])).toBe('STATS\r\n');
  });
});

describe('VERSION / SHUTDOWN', () => {
  it('exist only as bare words', () => {
    expect(parsed('VERSION')).toEqual({ name: 'VERSION' });
    expect(parsed('shutdown')).toEqual({ name: 'SHUTDOWN' });
    expect(rejected('VERSION x')).toBe('Unknown command: VERSION');
    expect(rejected('shutdown now')).toBe('Unknown command: shutdown');
  });

  it('reply VERSION <semver> and OK', () => {
    expect(replyOf({ name: 'VERSION' }, '0.1.0')).toBe('VERSION 0.1.0\r\n');
    expect(replyOf({ name: 'SHUTDOWN' }, undefined)).toBe('OK\r\n');
  });
});

describe('DBSIZE / MEMORY', () => {
  it('take no arguments', () => {
    expect(parsed('DBSIZE')).toEqual({ name: 'DBSIZE' });
    expect(parsed('memory')).toEqual({ name: 'MEMORY' });
    expect(rejected('DBSIZE x')).toBe('DBSIZE command does not accept any arguments');
    expect(rejected('memory usage')).toBe('MEMORY command does not accept any arguments');
  });

  it('reply DBSIZE <n> and MEMORY <bytes>', () => {
    expect(replyOf({ name: 'DBSIZE' }, 3)).toBe('DBSIZE 3\r\n');
    expect(replyOf({ name: 'MEMORY' }, 1_048_576)).toBe('MEMORY 1048576\r\n');
  });
});

describe('CLIENT LIST', () => {
  it.each(['CLIENT LIST', 'client list', 'CLIENT List extra', 'CLIENT'])('%j lists clients', (line) => {
    expect(parsed(line)).toEqual({ name: 'CLIENT_LIST' });
  });

  it.each([
    ['CLIENT KILL', 'Unknown CLIENT subcommand'],
    // Only ASCII case-folding, like Rust to_ascii_uppercase: a dotless ı is not an i.
    ['CLIENT lıst', 'Unknown CLIENT subcommand'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies CLIENT LIST, one line per client, END', () => {
    expect(
      replyOf({ name: 'CLIENT_LIST' }, [
        { id: 1, addr: '127.0.0.1:50000', ageSeconds: 12, idleSeconds: 0 },
        { id: 7, addr: '[::1]:40000', ageSeconds: 3, idleSeconds: 3 },
      ]),
    ).toBe('CLIENT LIST\r\nid=1 addr=127.0.0.1:50000 age=12 idle=0\r\nid=7 addr=[::1]:40000 age=3 idle=3\r\nEND\r\n');
    expect(replyOf({ name: 'CLIENT_LIST' }, [])).toBe('CLIENT LIST\r\nEND\r\n');
  });
});

describe('TRUNCATE / FLUSHDB / FLUSH', () => {
  it.each(['TRUNCATE', 'truncate', 'TRUNCATE all', 'FLUSHDB', 'flushdb x', 'FLUSH', 'flush'])('%j truncates', (line) => {
    expect(parsed(line)).toEqual({ name: 'TRUNCATE' });
  });

  it('knows FLUSH only as a bare word', () => {
    expect(rejected('FLUSH all')).toBe('Unknown command: FLUSH');
  });

  it('replies OK', () => {
    expect(replyOf({ name: 'TRUNCATE' }, undefined)).toBe('OK\r\n');
  });
});

describe('unknown commands and errors', () => {
  it.each([
    ['FOO bar', 'Unknown command: FOO'],
    ['foo', 'Unknown command: foo'],
    ['KEYS *', 'Unknown command: KEYS'],
    ['Ünknown x', 'Unknown command: Ünknown'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('encode ERROR <message> on one line', () => {
    expect(encodeMerkleKvError('Empty command').toString()).toBe('ERROR Empty command\r\n');
    expect(encodeMerkleKvError('line too long').toString()).toBe('ERROR line too long\r\n');
    expect(encodeMerkleKvError('a\r\nb\nc').toString()).toBe('ERROR a  b c\r\n');
  });
});
