import { type MemcachedEvent } from './decoder.js';
import { type MemcachedRequest } from './request.js';
import { decodeMemcached, decodeMemcachedChunks, memcachedEventsText } from '../testing/memcached.js';

const TEXT = { wire: 'text', noreply: false } as const;
const NOREPLY = { wire: 'text', noreply: true } as const;
const request = (r: MemcachedRequest): MemcachedEvent => ({ kind: 'request', request: r });
const client = (message: string, framing: MemcachedRequest['framing'] = TEXT): MemcachedEvent => ({ kind: 'failure', failure: { kind: 'client', message }, framing, close: false });
const UNKNOWN: MemcachedEvent = { kind: 'failure', failure: { kind: 'unknown' }, framing: TEXT, close: false };
const BAD = 'bad command line format';

function header(opcode: number, key: Buffer, extras: Buffer, value: Buffer, options: { bodyLength?: number; opaque?: number; cas?: bigint; magic?: number } = {}): Buffer {
  const out = Buffer.alloc(24);
  out[0] = options.magic ?? 0x80;
  out[1] = opcode;
  out.writeUInt16BE(key.length, 2);
  out[4] = extras.length;
  out.writeUInt32BE(options.bodyLength ?? extras.length + key.length + value.length, 8);
  out.writeUInt32BE(options.opaque ?? 0, 12);
  out.writeBigUInt64BE(options.cas ?? 0n, 16);
  return Buffer.concat([out, extras, key, value]);
}
const u32s = (...values: number[]): Buffer => Buffer.concat(values.map((v) => Buffer.from([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255])));

/** Every way of cutting `input` in two, and byte by byte, must decode like one push. */
function expectChunkingInvariant(input: Buffer): void {
  const whole = memcachedEventsText(decodeMemcached(input));
  for (let cut = 0; cut <= input.length; cut++) {
    const split = memcachedEventsText(decodeMemcachedChunks([input.subarray(0, cut), input.subarray(cut)]));
    if (split !== whole) throw new Error(`split at byte ${cut} decodes differently:\n${split}\nvs\n${whole}`);
  }
  expect(memcachedEventsText(decodeMemcachedChunks(Array.from(input, (byte) => Uint8Array.of(byte))))).toBe(whole);
}

describe('MemcachedDecoder, classic text commands', () => {
  it.each<[string, MemcachedRequest]>([
    ['get a b c', { op: 'get', keys: ['a', 'b', 'c'], withCas: false, framing: TEXT }],
    ['gets a', { op: 'get', keys: ['a'], withCas: true, framing: TEXT }],
    ['gat 30 a b', { op: 'get', keys: ['a', 'b'], withCas: false, touch: 30, framing: TEXT }],
    ['gats -1 a', { op: 'get', keys: ['a'], withCas: true, touch: -1, framing: TEXT }],
    ['delete k', { op: 'delete', key: 'k', cas: 0n, framing: TEXT }],
    ['delete k 0 noreply', { op: 'delete', key: 'k', cas: 0n, framing: NOREPLY }],
    ['incr n 18446744073709551615', { op: 'incr', key: 'n', delta: 18446744073709551615n, decrement: false, cas: 0n, framing: TEXT }],
    ['decr n 2 noreply', { op: 'incr', key: 'n', delta: 2n, decrement: true, cas: 0n, framing: NOREPLY }],
    ['touch k 10', { op: 'touch', key: 'k', exptime: 10, framing: TEXT }],
    ['flush_all', { op: 'flush', delay: 0, framing: TEXT }],
    ['flush_all 5 noreply', { op: 'flush', delay: 5, framing: NOREPLY }],
    ['version', { op: 'version', framing: TEXT }],
    ['verbosity 1', { op: 'noop', framing: TEXT }],
    ['stats', { op: 'stats', framing: TEXT }],
    ['quit', { op: 'quit', framing: TEXT }],
    ['get k\x10\x7f', { op: 'get', keys: ['k\x10\x7f'], withCas: false, framing: TEXT }],
    ['get é', { op: 'get', keys: ['é'], withCas: false, framing: TEXT }],
  ])('%j', (line, expected) => {
    expect(decodeMemcached(Buffer.from(`${line}\r\n`, 'utf8'))).toEqual([request(expected)]);
  });

  it('reads a data block of exactly the size announced, binary bytes included', () => {
    const value = Buffer.from([0, 13, 10, 255, 32]);
    const events = decodeMemcached(Buffer.concat([Buffer.from('cas k 7 -1 5 99 noreply\r\n'), value, Buffer.from('\r\nget k\n')]));
    expect(events).toEqual([
      request({ op: 'store', mode: 'cas', key: 'k', flags: 7, exptime: -1, value, cas: 99n, framing: NOREPLY }),
      request({ op: 'get', keys: ['k'], withCas: false, framing: TEXT }),
    ]);
  });

  it('answers a block longer or shorter than announced with bad data chunk, and goes on with the next line', () => {
    expect(decodeMemcached('set k 0 0 3\r\nabcde\r\nget k\r\n')).toEqual([client('bad data chunk'), UNKNOWN, request({ op: 'get', keys: ['k'], withCas: false, framing: TEXT })]);
    expect(decodeMemcached('set k 0 0 5\r\nabc\r\nget k\r\nget j\r\n')).toEqual([client('bad data chunk'), UNKNOWN, request({ op: 'get', keys: ['j'], withCas: false, framing: TEXT })]);
  });

  it.each<[string, MemcachedEvent[]]>([
    ['bogus', [UNKNOWN]],
    ['', [UNKNOWN]],
    ['GET k', [UNKNOWN]],
    ['get', [UNKNOWN]],
    [`get ${'a'.repeat(251)}`, [client(BAD)]],
    ['get a\x00b', [client(BAD)]],
    ['set k 0 0 -1', [client(BAD)]],
    ['set k 0 0', [UNKNOWN]],
    ['set k 0 0 1 extra junk', [UNKNOWN]],
    ['incr k abc', [client('invalid numeric delta argument')]],
    ['incr k -1', [client('invalid numeric delta argument')]],
    ['touch k soon', [client('invalid exptime argument')]],
    ['gat soon k', [client('invalid exptime argument')]],
    ['flush_all abc', [client('invalid exptime argument')]],
    ['delete k 5', [client(`${BAD}.  Usage: delete <key> [noreply]`)]],
    ['verbosity', [UNKNOWN]],
    ['mg', [UNKNOWN]],
    ['mg k zz', [client('invalid flag')]],
    ['mg k v v', [client('duplicate flag')]],
    ['mg k Tabc', [client('bad token in command line format', { wire: 'meta', quiet: false, returns: [], base64Key: false, value: false })]],
  ])('refuses %j as memcached does', (line, expected) => {
    expect(decodeMemcached(`${line}\r\n`)).toEqual(expected);
  });

  it('skips the data block of a refused storage line whose size is readable, and of a value over the limit', () => {
    const next = request({ op: 'version', framing: TEXT });
    expect(decodeMemcached(`set ${'a'.repeat(251)} 0 0 3\r\nabc\r\nversion\r\n`)).toEqual([client(BAD), next]);
    expect(decodeMemcached(`set k 0 0 2000\r\n${'x'.repeat(2000)}\r\nversion\r\n`)).toEqual([
      { kind: 'failure', failure: { kind: 'too-large' }, framing: TEXT, close: false },
      next,
    ]);
  });

  it('closes on a command line over 2048 bytes, but refuses an overlong retrieval line and goes on', () => {
    expect(decodeMemcached(`set ${'a'.repeat(3000)} 0 0 1\r\nx\r\nversion\r\n`)).toEqual([{ kind: 'failure', failure: { kind: 'client', message: 'line too long' }, framing: TEXT, close: true }]);
    const limits = { maxValueBytes: 1024, maxRetrievalLineBytes: 8192 };
    const version = request({ op: 'version', framing: TEXT });
    expect(decodeMemcached(`get ${'a'.repeat(10_000)}\r\nversion\r\n`, limits)).toEqual([client(BAD), version]);
    expect(decodeMemcached(`get ${'a '.repeat(5000)}\r\nversion\r\n`, limits)).toEqual([client('line too long'), version]);
    // A long list of keys within the limit is fine.
    const keys = Array.from({ length: 500 }, (_, i) => `key${i}`);
    expect(decodeMemcached(`gets ${keys.join(' ')}\r\n`, limits)).toEqual([request({ op: 'get', keys, withCas: true, framing: TEXT })]);
  });

  it('decodes a transcript the same however it is cut', () => {
    const transcript = Buffer.concat([
      Buffer.from('set a 1 2 3\r\nabc\r\nget a b\r\nset b 0 0 3\r\nabcdef\r\nbogus\r\nmg a v k O9\r\nms a 2 T5 F3\r\nhi\r\n'),
      Buffer.from(`get ${'z'.repeat(300)}\r\nincr n 5\r\nmn\r\nquit\r\n`),
    ]);
    expectChunkingInvariant(transcript);
  });
});

describe('MemcachedDecoder, meta commands', () => {
  const meta = (returns: { flag: string; token?: string }[], extra: { quiet?: boolean; base64Key?: boolean; value?: boolean } = {}) => ({
    wire: 'meta' as const,
    quiet: extra.quiet ?? false,
    returns,
    base64Key: extra.base64Key ?? false,
    value: extra.value ?? false,
  });

  it('parses mg, ms, md, ma, mn and me with their flags', () => {
    expect(decodeMemcached('mg k v c f O12 k q T30\r\n')).toEqual([
      request({ op: 'get', keys: ['k'], withCas: true, touch: 30, framing: meta([{ flag: 'c' }, { flag: 'f' }, { flag: 'O', token: '12' }, { flag: 'k' }], { quiet: true, value: true }) }),
    ]);
    expect(decodeMemcached('ms k 2 MA C5 F1 T9\r\nhi\r\n')).toEqual([
      request({ op: 'store', mode: 'append', key: 'k', flags: 1, exptime: 9, value: Buffer.from('hi'), cas: 5n, framing: meta([]) }),
    ]);
    expect(decodeMemcached('ms k 2 C5\r\nhi\r\n')[0]).toMatchObject({ request: { mode: 'cas', cas: 5n } });
    expect(decodeMemcached('md k C7 q\r\n')).toEqual([request({ op: 'delete', key: 'k', cas: 7n, framing: meta([], { quiet: true }) })]);
    expect(decodeMemcached('ma k MD D3 N60 J10 v\r\n')).toEqual([
      request({ op: 'incr', key: 'k', delta: 3n, decrement: true, create: { initial: 10n, exptime: 60 }, cas: 0n, framing: meta([], { value: true }) }),
    ]);
    expect(decodeMemcached('mn\r\n')).toEqual([request({ op: 'noop', framing: meta([]) })]);
    expect(decodeMemcached('me k\r\n')).toEqual([request({ op: 'debug', key: 'k', framing: meta([]) })]);
    expect(decodeMemcached('mg aw== b k\r\n')).toEqual([request({ op: 'get', keys: ['k'], withCas: true, framing: meta([{ flag: 'k' }], { base64Key: true }) })]);
  });

  it('refuses a bad ms mode, and skips its data block', () => {
    expect(decodeMemcached('ms k 2 MX\r\nhi\r\nmn\r\n')).toEqual([client('invalid mode for ms M token', meta([])), request({ op: 'noop', framing: meta([]) })]);
  });
});

describe('MemcachedDecoder, binary protocol', () => {
  const binary = (opcode: number, extra: { opaque?: number; quiet?: boolean; withKey?: boolean } = {}) => ({
    wire: 'binary' as const,
    opcode,
    opaque: extra.opaque ?? 0,
    quiet: extra.quiet ?? false,
    withKey: extra.withKey ?? false,
  });

  it('parses get, set, incr, touch and their quiet and keyed forms', () => {
    const packets = Buffer.concat([
      header(0x00, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(0), { opaque: 7 }),
      header(0x0d, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(0)),
      header(0x11, Buffer.from('k'), u32s(3, 60), Buffer.from('value'), { cas: 9n }),
      header(0x05, Buffer.from('n'), Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 2]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]), u32s(0xffffffff)]), Buffer.alloc(0)),
      header(0x1c, Buffer.from('k'), u32s(100), Buffer.alloc(0)),
      header(0x0a, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)),
    ]);
    expect(decodeMemcached(packets)).toEqual([
      request({ op: 'get', keys: ['k'], withCas: true, framing: binary(0x00, { opaque: 7 }) }),
      request({ op: 'get', keys: ['k'], withCas: true, framing: binary(0x0d, { quiet: true, withKey: true }) }),
      request({ op: 'store', mode: 'cas', key: 'k', flags: 3, exptime: 60, value: Buffer.from('value'), cas: 9n, framing: binary(0x11, { quiet: true }) }),
      request({ op: 'incr', key: 'n', delta: 2n, decrement: false, cas: 0n, framing: binary(0x05) }),
      request({ op: 'touch', key: 'k', exptime: 100, framing: binary(0x1c) }),
      request({ op: 'noop', framing: binary(0x0a) }),
    ]);
    expectChunkingInvariant(packets);
  });

  it('answers wrong lengths with Invalid arguments and closes; skips an unknown opcode and a value over the limit', () => {
    const invalid = { kind: 'failure', failure: { kind: 'client', message: 'Invalid arguments' }, close: true };
    expect(decodeMemcached(header(0x01, Buffer.from('k'), Buffer.alloc(0), Buffer.from('v')))).toEqual([{ ...invalid, framing: binary(0x01) }]);
    expect(decodeMemcached(header(0x00, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(0), { bodyLength: 0 }))).toEqual([{ ...invalid, framing: binary(0x00) }]);
    expect(decodeMemcached(header(0x00, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(5)))).toEqual([{ ...invalid, framing: binary(0x00) }]);
    const noop = header(0x0a, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0));
    expect(decodeMemcached(Buffer.concat([header(0x55, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(3)), noop]))).toEqual([
      { kind: 'failure', failure: { kind: 'unknown' }, framing: binary(0x55), close: false },
      request({ op: 'noop', framing: binary(0x0a) }),
    ]);
    expect(decodeMemcached(Buffer.concat([header(0x01, Buffer.from('k'), u32s(0, 0), Buffer.alloc(5000)), noop]))).toEqual([
      { kind: 'failure', failure: { kind: 'too-large' }, framing: binary(0x01), close: false },
      request({ op: 'noop', framing: binary(0x0a) }),
    ]);
    // After the first packet, a header without the request magic ends the connection.
    expect(decodeMemcached(Buffer.concat([noop, header(0x0a, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), { magic: 0x81 }), noop]))).toEqual([
      request({ op: 'noop', framing: binary(0x0a) }),
      { kind: 'close' },
    ]);
  });

  it('decodes SASL: the mechanism from the key, its message from the value; a message over 4 KiB is skipped', () => {
    const none = Buffer.alloc(0);
    const packets = Buffer.concat([
      header(0x20, none, none, none, { opaque: 1 }),
      header(0x21, Buffer.from('PLAIN'), none, Buffer.from('\0app\0pw'), { opaque: 2 }),
      header(0x22, Buffer.from('PLAIN'), none, none, { opaque: 3 }),
    ]);
    expect(decodeMemcached(packets)).toEqual([
      request({ op: 'sasl', step: 'list', mechanism: '', message: none, framing: binary(0x20, { opaque: 1 }) }),
      request({ op: 'sasl', step: 'start', mechanism: 'PLAIN', message: Buffer.from('\0app\0pw'), framing: binary(0x21, { opaque: 2 }) }),
      request({ op: 'sasl', step: 'step', mechanism: 'PLAIN', message: none, framing: binary(0x22, { opaque: 3 }) }),
    ]);
    expectChunkingInvariant(packets);
    const noop = header(0x0a, none, none, none);
    expect(decodeMemcached(Buffer.concat([header(0x21, Buffer.from('PLAIN'), none, Buffer.alloc(5000)), noop]))).toEqual([
      { kind: 'failure', failure: { kind: 'client', message: 'Invalid arguments' }, framing: binary(0x21), close: false },
      request({ op: 'noop', framing: binary(0x0a) }),
    ]);
  });
});
