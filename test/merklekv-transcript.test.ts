import { startNode, type NodeProcess } from '#testing';
import { RawClient } from './support/raw-client.js';

/**
 * Every command of PROTOCOL.md against a real node process, reply bytes exact. Each row is a
 * request line and the exact bytes the reference protocol answers.
 */
const TRANSCRIPT: readonly (readonly [string, string])[] = [
  ['PING\r\n', 'PONG\r\n'],
  ['ping hello world\r\n', 'PONG hello world\r\n'],
  ['ECHO hello world\r\n', 'ECHO hello world\r\n'],
  ['GET missing\r\n', 'NOT_FOUND\r\n'],
  ['SET k v\r\n', 'OK\r\n'],
  ['GET k\r\n', 'VALUE v\r\n'],
  ['set k2 value with  spaces\r\n', 'OK\r\n'],
  ['GET k2\r\n', 'VALUE value with  spaces\r\n'],
  ['SET tab a\tb\r\n', 'OK\r\n'],
  ['GET tab\r\n', 'VALUE a\tb\r\n'],
  ['SET quoted ""\r\n', 'OK\r\n'],
  ['GET quoted\r\n', 'VALUE ""\r\n'],
  ['SET emoji 🚀✨ héllo\n', 'OK\r\n'],
  ['GET emoji\n', 'VALUE 🚀✨ héllo\r\n'],
  ['SET 键 值\r\n', 'OK\r\n'],
  ['GET 键\r\n', 'VALUE 值\r\n'],
  ['GET\r\n', 'ERROR GET command requires arguments\r\n'],
  ['GET a b\r\n', 'ERROR GET command accepts only one argument\r\n'],
  ['SET\r\n', 'ERROR SET command requires arguments\r\n'],
  ['SET onlykey\r\n', 'ERROR SET command requires a key and value\r\n'],
  ['DEL k\r\n', 'DELETED\r\n'],
  ['DEL k\r\n', 'NOT_FOUND\r\n'],
  ['DELETE k2\r\n', 'DELETED\r\n'],
  ['DEL\r\n', 'ERROR DEL command requires arguments\r\n'],
  ['DELETE\r\n', 'ERROR DELETE command requires arguments\r\n'],
  ['INC n\r\n', 'VALUE 1\r\n'],
  ['INC n 10\r\n', 'VALUE 11\r\n'],
  ['INC n +5\r\n', 'VALUE 16\r\n'],
  ['DEC n 20\r\n', 'VALUE -4\r\n'],
  ['INCR n\r\n', 'VALUE -3\r\n'],
  ['DECR n\r\n', 'VALUE -4\r\n'],
  ['DEC fresh\r\n', 'VALUE -1\r\n'],
  ['INC tab\r\n', "ERROR Value for key 'tab' is not a valid number\r\n"],
  ['INC n abc\r\n', 'ERROR INC command amount must be a valid number\r\n'],
  ['SET big 9223372036854775807\r\n', 'OK\r\n'],
  ['INC big\r\n', "ERROR Value for key 'big' would overflow a 64-bit integer\r\n"],
  ['APPEND s abc\r\n', 'VALUE abc\r\n'],
  ['APPEND s  def\r\n', 'VALUE abc def\r\n'],
  ['PREPEND s >\r\n', 'VALUE >abc def\r\n'],
  ['MSET a 1 b 2 c 3\r\n', 'OK\r\n'],
  ['MSET a 1 b\r\n', 'ERROR MSET command requires an even number of arguments (key-value pairs)\r\n'],
  ['MGET a nope c\r\n', 'VALUES 2\r\na 1\r\nnope NOT_FOUND\r\nc 3\r\n'],
  ['MGET nope1 nope2\r\n', 'NOT_FOUND\r\n'],
  ['EXISTS a a nope b\r\n', 'EXISTS 3\r\n'],
  ['TRUNCATE\r\n', 'OK\r\n'],
  ['DBSIZE\r\n', 'DBSIZE 0\r\n'],
  ['MSET user:2 x user:10 y other z\r\n', 'OK\r\n'],
  ['SCAN user:\r\n', 'KEYS 2\r\nuser:10\r\nuser:2\r\n'],
  ['SCAN\r\n', 'KEYS 3\r\nother\r\nuser:10\r\nuser:2\r\n'],
  ['DBSIZE\r\n', 'DBSIZE 3\r\n'],
  ['FLUSHDB\r\n', 'OK\r\n'],
  ['SET a 1\r\n', 'OK\r\n'],
  ['SET b 2\r\n', 'OK\r\n'],
  ['SET c 3\r\n', 'OK\r\n'],
  ['HASH\r\n', 'HASH 699dab231835e9759faa486683e374a93686ae85c394d8870499c2e7b2599997\r\n'],
  ['HASH *\r\n', 'HASH * 699dab231835e9759faa486683e374a93686ae85c394d8870499c2e7b2599997\r\n'],
  ['HASH a\r\n', 'HASH a 4ba9bdecd6b287135f7d4ca5a577b2b657309c6cb5c3321c96d345bffdf78f72\r\n'],
  ['FLUSH\r\n', 'OK\r\n'],
  ['HASH\r\n', `HASH ${'0'.repeat(64)}\r\n`],
  ['REPLICATE status\r\n', 'REPLICATION disabled\r\n'],
  ['FOO bar\r\n', 'ERROR Unknown command: FOO\r\n'],
  ['fOo\r\n', 'ERROR Unknown command: fOo\r\n'],
  ['\r\n', 'ERROR Empty command\r\n'],
  ['   \t \r\n', 'ERROR Empty command\r\n'],
];

describe('MerkleKV text protocol transcript', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await startNode({ args: ['--engine', 'rocksdb'] });
  });
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
  });

  it('answers every command byte for byte', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    for (const [request, expected] of TRANSCRIPT) {
      expect([request, await client.exchange(request, expected)]).toEqual([request, expected]);
    }
  });

  it('answers pipelined requests in order, in one packet', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    const requests = TRANSCRIPT.map(([request]) => request).join('');
    const expected = TRANSCRIPT.map(([, reply]) => reply).join('');
    await client.exchange('FLUSHDB\r\n', 'OK\r\n');
    expect(await client.exchange(requests, expected)).toBe(expected);
  });

  it('ends a WATCH with the next line, which is not executed, also when the WATCH waited for a write', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    const expected = 'OK\r\nWATCHING w\r\nEND\r\nVALUE 1\r\n';
    expect(await client.exchange('SET w 1\r\nWATCH w\r\nSET w 2\r\nGET w\r\n', expected)).toBe(expected);
  });

  // As the README says: one line per key per commit group, with the key's value after it (an
  // MSET is one group), not one per write; and HASH echoes the prefix it was given.
  it('reports one WATCH line per key per commit group, and echoes the prefix of HASH', async () => {
    await using watcher = await RawClient.connect(node.ports.merklekv);
    expect(await watcher.exchange('WATCH grouped:\r\n', 'WATCHING grouped:\r\n')).toBe('WATCHING grouped:\r\n');
    await using writer = await RawClient.connect(node.ports.merklekv);
    await writer.exchange('MSET grouped:a 1 grouped:a 2 grouped:b 3\r\n', 'OK\r\n');
    await writer.exchange('SET grouped:a 4\r\n', 'OK\r\n');
    // The group's keys may come from different shards, in either order.
    const group = ['CHANGE grouped:a 2\r\n', 'CHANGE grouped:b 3\r\n'];
    const groupLines = (await watcher.read(group.join('').length)).split(/(?<=\r\n)/);
    expect(groupLines.sort()).toEqual(group);
    expect(await watcher.read('CHANGE grouped:a 4\r\n'.length)).toBe('CHANGE grouped:a 4\r\n');
    const hashReply = `HASH grouped: ${'0'.repeat(64)}\r\n`;
    expect(await writer.exchange('HASH grouped:\r\n', hashReply)).toMatch(/^HASH grouped: [0-9a-f]{64}\r\n$/);
  });

  it('disconnects a watcher that stops reading instead of buffering for it', async () => {
    await using watcher = await RawClient.connect(node.ports.merklekv);
    expect(await watcher.exchange('WATCH big:\r\n', 'WATCHING big:\r\n')).toBe('WATCHING big:\r\n');
    watcher.socket.pause();
    await using writer = await RawClient.connect(node.ports.merklekv);
    const value = 'v'.repeat(100_000);
    for (let i = 0; i < 200; i++) await writer.exchange(`SET big:${i} ${value}\r\n`, 'OK\r\n');
    writer.write('CLIENT LIST\r\n');
    let list = '';
    while (!list.endsWith('END\r\n')) list += await writer.read(1);
    expect(list.split('\r\n').filter((l) => l.startsWith('id=')).length).toBe(1);
  });

  it('reports server facts: INFO, STATS, VERSION, MEMORY, CLIENT LIST', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    await using other = await RawClient.connect(node.ports.merklekv);
    await other.exchange('PING\r\n', 'PONG\r\n');
    client.write('VERSION\r\n');
    expect(await client.read(8)).toBe('VERSION ');
    const version = await readLine(client);
    expect(version).toMatch(/^\d+\.\d+\.\d+\r\n$/);

    client.write('INFO\r\n');
    const info = await readBlock(client, (line) => line.startsWith('db_keys:'));
    expect(info[0]).toBe('INFO');
    expect(info.some((l) => /^uptime_seconds:\d+$/.test(l))).toBe(true);
    expect(info.some((l) => /^server_time_unix:\d+$/.test(l))).toBe(true);

    client.write('STATS\r\n');
    const stats = await readBlock(client, (line) => line.startsWith('used_memory_kb:'));
    expect(stats[0]).toBe('STATS');
    const fields = new Map(stats.slice(1).map((l) => l.split(':', 2) as [string, string]));
    expect(Number(fields.get('active_connections'))).toBeGreaterThanOrEqual(2);
    expect(Number(fields.get('total_commands'))).toBeGreaterThan(0);

    client.write('CLIENT LIST\r\n');
    const list = await readBlock(client, (line) => line === 'END');
    expect(list[0]).toBe('CLIENT LIST');
    expect(list.length).toBeGreaterThanOrEqual(4);
    for (const line of list.slice(1, -1)) expect(line).toMatch(/^id=\d+ addr=127\.0\.0\.1:\d+ age=\d+ idle=\d+$/);

    await client.exchange('SET m 12345\r\n', 'OK\r\n');
    client.write('MEMORY\r\n');
    expect(await readLine(client)).toMatch(/^MEMORY \d+\r\n$/);
  });
});

async function readLine(client: RawClient): Promise<string> {
  let line = '';
  while (!line.endsWith('\r\n')) line += await client.read(1);
  return line;
}

async function readBlock(client: RawClient, isLast: (line: string) => boolean): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    const line = (await readLine(client)).slice(0, -2);
    lines.push(line);
    if (isLast(line)) return lines;
  }
}
