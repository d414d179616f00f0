import { memcached, merklekv, Reply, type Protocol } from './protocols.js';

/** Feeds `input` split at every pair of positions and returns the replies seen each time. */
function everySplit(protocol: Protocol, input: string): Reply[][] {
  const bytes = Buffer.from(input, 'utf8');
  const runs: Reply[][] = [];
  for (let i = 0; i <= bytes.length; i += 1) {
    for (let j = i; j <= bytes.length; j += 1) {
      const replies: Reply[] = [];
      const parser = protocol.createParser((r) => replies.push(r));
      parser.feed(bytes.subarray(0, i));
      parser.feed(bytes.subarray(i, j));
      parser.feed(bytes.subarray(j));
      runs.push(replies);
    }
  }
  return runs;
}

/** Feeds `input` one byte at a time and returns after which byte each reply completed. */
function completionPoints(protocol: Protocol, input: string): number[] {
  const bytes = Buffer.from(input, 'utf8');
  const points: number[] = [];
  let at = 0;
  const parser = protocol.createParser(() => points.push(at));
  for (; at < bytes.length; at += 1) parser.feed(bytes.subarray(at, at + 1));
  return points;
}

describe('MerkleKV replies', () => {
  const stream = 'OK\r\nVALUE some value with spaces 🙂\r\nNOT_FOUND\r\nERROR SET command requires a key and value\r\nOK\nVALUE \r\nOKAY\r\n';
  const expected = [Reply.Ok, Reply.Ok, Reply.Miss, Reply.Error, Reply.Ok, Reply.Ok, Reply.Error];

  it('gives the same replies under any chunking', () => {
    for (const replies of everySplit(merklekv, stream)) expect(replies).toEqual(expected);
  });

  it('counts a reply only when its line is complete', () => {
    const input = 'OK\r\nVALUE abc\r\n';
    expect(completionPoints(merklekv, input)).toEqual([3, input.length - 1]);
  });

  it('encodes requests', () => {
    expect(merklekv.getRequest('k1').toString()).toBe('GET k1\r\n');
    expect(merklekv.setRequest('k1', Buffer.from('v v')).toString()).toBe('SET k1 v v\r\n');
  });
});

describe('memcached replies', () => {
  // A data block may itself hold CR, LF and "END": only the byte count delimits it.
  const block = 'x\r\nEND\r\nVALUE y';
  const stream = `STORED\r\nVALUE k 0 ${Buffer.byteLength(block)}\r\n${block}\r\nEND\r\nEND\r\nVALUE k 5 2 77\r\nab\r\nEND\r\nNOT_STORED\r\nSERVER_ERROR out of memory\r\nVALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n`;
  const expected = [Reply.Ok, Reply.Ok, Reply.Miss, Reply.Ok, Reply.Error, Reply.Error, Reply.Ok];

  it('gives the same replies under any chunking', () => {
    for (const replies of everySplit(memcached, stream)) expect(replies).toEqual(expected);
  });

  it('counts a GET hit only once END has arrived', () => {
    const input = 'VALUE k 0 3\r\nabc\r\nEND\r\n';
    expect(completionPoints(memcached, input)).toEqual([input.length - 1]);
  });

  it('rejects a header line that is too long or has no byte count', () => {
    const replies: Reply[] = [];
    const parser = memcached.createParser((r) => replies.push(r));
    parser.feed(Buffer.from(`VALUE ${'k'.repeat(600)} 0 1\r\nVALUE k 0\r\nEND\r\n`));
    expect(replies).toEqual([Reply.Error, Reply.Error, Reply.Miss]);
  });

  it('encodes requests', () => {
    expect(memcached.getRequest('k1').toString()).toBe('get k1\r\n');
    expect(memcached.setRequest('k1', Buffer.from('abc')).toString()).toBe('set k1 0 0 3\r\nabc\r\n');
  });
});

describe('sign-in', () => {
  it("uses each protocol's own request and accepting reply", () => {
    expect(merklekv.signIn('app', 'pw')).toEqual({ request: Buffer.from('AUTH app pw\r\n'), accepted: 'OK\r\n' });
    // memcached's ASCII authentication: the first set carries "<user> <password>" as its data.
    expect(memcached.signIn('app', 'pw')).toEqual({ request: Buffer.from('set auth 0 0 6\r\napp pw\r\n'), accepted: 'STORED\r\n' });
  });
});
