import { eventually, type NatsServer, type NodeProcess, startNatsServer, startNode, TextClient } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';
import { RawClient } from './support/raw-client.js';

/** A binary request header (magic 0x80) and body. */
function packet(opcode: number, key: string, extras: Buffer, value: Buffer, bodyLength?: number): Buffer {
  const header = Buffer.alloc(24);
  header[0] = 0x80;
  header[1] = opcode;
  header.writeUInt16BE(Buffer.byteLength(key), 2);
  header[4] = extras.length;
  header.writeUInt32BE(bodyLength ?? extras.length + Buffer.byteLength(key) + value.length, 8);
  return Buffer.concat([header, extras, Buffer.from(key), value]);
}

/** The status of a binary response header. */
const statusOf = (response: string): number => Buffer.from(response, 'latin1').readUInt16BE(6);

describe('malformed memcached input', () => {
  let node: NodeProcess;
  let bystander: TextClient;
  beforeAll(async () => {
    node = await startNode();
    bystander = await TextClient.connect(node.ports.memcached!);
  });
  afterAll(async () => {
    await bystander?.close();
    await node?.[Symbol.asyncDispose]();
  });

  /** Another client is served throughout: its write and read go through. */
  async function bystanderIsServed(): Promise<void> {
    bystander.send('set bystander 0 0 2');
    bystander.send('ok');
    expect(await bystander.readLines(1)).toEqual(['STORED']);
    bystander.send('get bystander');
    expect(await bystander.readUntil('END')).toEqual(['VALUE bystander 0 2', 'ok', 'END']);
  }

  it("answers garbage and bad commands with memcached's errors and keeps the connection in step", async () => {
    await using client = await RawClient.connect(node.ports.memcached!);
    const transcript: [string, string][] = [
      ['nonsense here\r\n', 'ERROR\r\n'],
      ['\r\n', 'ERROR\r\n'],
      [`get ${'k'.repeat(251)}\r\n`, 'CLIENT_ERROR bad command line format\r\n'],
      ['get bad\0key\r\n', 'CLIENT_ERROR bad command line format\r\n'],
      ['set k 0 0 -1\r\n', 'CLIENT_ERROR bad command line format\r\n'],
      ['set k 0 soon 1\r\nx\r\n', 'CLIENT_ERROR bad command line format\r\n'],
      ['set n 0 0 3\r\nabc\r\nincr n 1\r\n', 'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n'],
      ['incr n x\r\n', 'CLIENT_ERROR invalid numeric delta argument\r\n'],
      ['touch n later\r\n', 'CLIENT_ERROR invalid exptime argument\r\n'],
      [`set big 0 0 ${2 * 1024 * 1024}\r\n${'x'.repeat(2 * 1024 * 1024)}\r\n`, 'SERVER_ERROR object too large for cache\r\n'],
      // A block longer, then shorter, than announced: bad data chunk, and the rest read as a line.
      ['set k 0 0 3\r\nabcde\r\n', 'CLIENT_ERROR bad data chunk\r\nERROR\r\n'],
      ['set k 0 0 5\r\nabc\r\nget k\r\n', 'CLIENT_ERROR bad data chunk\r\nERROR\r\n'],
      ['\x01\x02\xff\xfe garbage \x7f\r\n', 'ERROR\r\n'],
      // A 1 MB key on a retrieval line: refused, and the connection goes on.
      [`get ${'a'.repeat(1024 * 1024)}\r\n`, 'CLIENT_ERROR bad command line format\r\n'],
      ['set k 0 0 2\r\nhi\r\nget k\r\n', 'STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n'],
    ];
    for (const [input, reply] of transcript) {
      client.write(input);
      expect(await client.read(reply.length)).toBe(reply);
      await bystanderIsServed();
    }
    expect(client.closed).toBe(false);
  });

  it('closes a connection sending a command line over 2048 bytes that is no retrieval, as memcached does', async () => {
    await using client = await RawClient.connect(node.ports.memcached!);
    client.write(`set ${'a'.repeat(1024 * 1024)} 0 0 1\r\nx\r\n`);
    expect(await client.read(100)).toBe('CLIENT_ERROR line too long\r\n');
    await eventually('the connection to close', () => client.closed);
    await bystanderIsServed();
  });

  it('answers binary packets with wrong lengths with Invalid arguments and closes; unknown opcodes and large values are skipped', async () => {
    {
      await using client = await RawClient.connect(node.ports.memcached!);
      // A set without its 8 bytes of extras.
      client.write(packet(0x01, 'k', Buffer.alloc(0), Buffer.from('v')));
      const response = await client.read(24 + 17);
      expect(statusOf(response)).toBe(0x04);
      expect(response.slice(24)).toBe('Invalid arguments');
      await eventually('the connection to close', () => client.closed);
    }
    {
      await using client = await RawClient.connect(node.ports.memcached!);
      // Key longer than the body says.
      client.write(packet(0x00, 'key', Buffer.alloc(0), Buffer.alloc(0), 1));
      expect(statusOf(await client.read(24 + 17))).toBe(0x04);
      await eventually('the connection to close', () => client.closed);
    }
    {
      await using client = await RawClient.connect(node.ports.memcached!);
      const noop = packet(0x0a, '', Buffer.alloc(0), Buffer.alloc(0));
      client.write(Buffer.concat([packet(0x55, 'k', Buffer.alloc(0), Buffer.from('junk')), packet(0x01, 'k', Buffer.alloc(8), Buffer.alloc(2 * 1024 * 1024)), noop]));
      // (The client reads text: a status byte above 0x7f does not survive it, the message does.)
      expect(await client.read(24 + 15)).toMatch(/Unknown command$/);
      expect(statusOf(await client.read(24 + 10))).toBe(0x03);
      expect(statusOf(await client.read(24))).toBe(0x00);
      expect(client.closed).toBe(false);
    }
    await bystanderIsServed();
  });
});

describe('memcached writes replicate', () => {
  let nats: NatsServer;
  let nodes: ClusterNode[];
  beforeAll(async () => {
    nats = await startNatsServer();
    nodes = await Promise.all(['a', 'b'].map((id) => startClusterNode(nats.url, id)));
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map(stopClusterNode));
    await nats?.[Symbol.asyncDispose]();
  });

  it('a key set over memcached on one node is read over memcached and MerkleKV on the other, with its flags', async () => {
    await using a = await TextClient.connect(nodes[0]!.process.ports.memcached!);
    await using b = await TextClient.connect(nodes[1]!.process.ports.memcached!);
    a.send('set replicated 42 0 5');
    a.send('hello');
    expect(await a.readLines(1)).toEqual(['STORED']);
    a.send('set counter 0 0 1');
    a.send('5');
    a.send('incr counter 10');
    expect(await a.readLines(2)).toEqual(['STORED', '15']);
    await eventually('the write on the other node', async () => (await nodes[1]!.send('GET replicated')) === 'VALUE hello');
    b.send('get replicated');
    expect(await b.readUntil('END')).toEqual(['VALUE replicated 42 5', 'hello', 'END']);
    await eventually('the counter on the other node', async () => {
      b.send('get counter');
      return (await b.readUntil('END'))[1] === '15';
    });
  });
});
