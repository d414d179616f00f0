import { encodeOutcome } from '../memcached/reply.js';
import { type MemcachedRequest } from '../memcached/request.js';
import { framed, LARGE_VALUE_BYTES, replyBuffer, replyLength, replyPieces } from './reply-bytes.js';

describe('reply bytes', () => {
  it('copies small parts into one Buffer, and leaves a reply with a large value as its pieces', () => {
    const small = framed([Buffer.from('VALUE '), Buffer.from('v'), Buffer.from('\r\n')]);
    expect(Buffer.isBuffer(small)).toBe(true);
    expect(small.toString()).toBe('VALUE v\r\n');

    const value = Buffer.alloc(LARGE_VALUE_BYTES, 'v');
    const large = framed([Buffer.from('VALUE '), value, Buffer.from('\r\n')]);
    expect(Array.isArray(large)).toBe(true);
    expect((large as readonly Uint8Array[])[1]).toBe(value);
    expect(replyLength(large)).toBe(LARGE_VALUE_BYTES + 8);
    expect(replyBuffer(large).toString()).toBe(`VALUE ${value.toString()}\r\n`);
  });

  it('sends a large memcached value as it is stored, in the text and meta forms', () => {
    const value = Buffer.alloc(LARGE_VALUE_BYTES, 'v');
    const item = { value, flags: 7, cas: 9n, ttl: -1 };
    const get: MemcachedRequest = { op: 'get', keys: ['k'], withCas: false, framing: { wire: 'text', noreply: false } };
    const text = encodeOutcome(get, { op: 'get', items: [item] });
    expect(replyPieces(text)).toContain(value);
    expect(replyBuffer(text).toString()).toBe(`VALUE k 7 ${LARGE_VALUE_BYTES}\r\n${value.toString()}\r\nEND\r\n`);

    const meta: MemcachedRequest = { ...get, framing: { wire: 'meta', quiet: false, returns: [{ flag: 'f' }], base64Key: false, value: true } };
    const reply = encodeOutcome(meta, { op: 'get', items: [item] });
    expect(replyPieces(reply)).toContain(value);
    expect(replyBuffer(reply).toString()).toBe(`VA ${LARGE_VALUE_BYTES} f7\r\n${value.toString()}\r\n`);
  });
});
