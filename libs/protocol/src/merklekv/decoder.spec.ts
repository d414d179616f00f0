import fc from 'fast-check';

import { MERKLEKV_MAX_LINE_BYTES, MerkleKvDecoder, type MerkleKvEvent } from './decoder.js';
import { decode, decodeChunks, eventsText, protocolishBytes } from '../testing/merklekv.js';

const LIMIT = MERKLEKV_MAX_LINE_BYTES;
const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');
const command = (c: unknown): unknown => ({ kind: 'command', command: c });
const error = (message: string): MerkleKvEvent => ({ kind: 'error', message });

/** Every way of cutting `input` in two, plus byte by byte, must decode like one push. */
function expectChunkingInvariant(input: Buffer): void {
  const whole = eventsText(decode(input));
  for (let cut = 0; cut <= input.length; cut++) {
    const split = eventsText(decodeChunks([input.subarray(0, cut), input.subarray(cut)]));
    if (split !== whole) throw new Error(`split at byte ${cut} decodes differently:\n${split}\nvs\n${whole}`);
  }
  const oneByOne = Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
  expect(eventsText(decodeChunks(oneByOne))).toBe(whole);
}

// 8 KiB of ASCII then 8 KiB of two-byte characters: chunk cuts land inside characters.
const VALUE_16K = 'x'.repeat(8192) + 'é'.repeat(4096);

const TRANSCRIPT = bytes(
  [
    'SET greeting hello world\r\n',
    'GET greeting\n',
    'SET tabbed \t\tleading tabs kept\r\n',
    'SET k  two leading spaces   \r\n',
    'SET emoji:🔑 värde ✓ 日本\r\n',
    `SET big ${VALUE_16K}\r\n`,
    'GET\tkey\r\n',
    '\r\n',
    '  \t \r\n',
    'inc counter\r\n',
    'DEC counter -5\r\n',
    'MGET a b  c\r\n',
    'MSET a 1 b 2\n',
    'PING\r\n',
    'PING hello there\r\n',
    'ECHO 日本語\r\n',
    'HASH *\r\n',
    'SYNC 10.0.0.1 7379 --full\r\n',
    'REPLICATE status\r\n',
    'nosuch thing\r\n',
    '\u00a0GET nbsp\u3000\r\n',
    'DEL gone\n',
    'SET crlf value\r\r\n',
    'GET unterminated',
  ].join(''),
);

describe('MerkleKvDecoder framing', () => {
  it('decodes a pipelined transcript in order', () => {
    expect(decode(TRANSCRIPT)).toEqual([
      command({ name: 'SET', key: 'greeting', value: bytes('hello world') }),
      command({ name: 'GET', key: 'greeting' }),
      command({ name: 'SET', key: 'tabbed', value: bytes('\t\tleading tabs kept') }),
      command({ name: 'SET', key: 'k', value: bytes(' two leading spaces') }),
      command({ name: 'SET', key: 'emoji:🔑', value: bytes('värde ✓ 日本') }),
      command({ name: 'SET', key: 'big', value: bytes(VALUE_16K) }),
      error('Invalid character: tab character not allowed in command'),
      error('Empty command'),
      error('Empty command'),
      command({ name: 'INCR', key: 'counter', amount: 1n }),
      command({ name: 'INCR', key: 'counter', amount: 5n }),
      command({ name: 'MGET', keys: ['a', 'b', 'c'] }),
      command({ name: 'MSET', pairs: [['a', bytes('1')], ['b', bytes('2')]] }),
      command({ name: 'PING' }),
      command({ name: 'PING', message: 'hello there' }),
      command({ name: 'ECHO', message: '日本語' }),
      command({ name: 'HASH', pattern: '*' }),
      command({ name: 'SYNC', host: '10.0.0.1', port: 7379, full: true, verify: false }),
      command({ name: 'REPLICATE', action: 'status' }),
      error('Unknown command: nosuch'),
      command({ name: 'GET', key: 'nbsp' }),
      command({ name: 'DEL', key: 'gone' }),
      command({ name: 'SET', key: 'crlf', value: bytes('value') }),
    ]);
  });

  it('gives the same events for every split position and for byte-by-byte input', () => {
    expectChunkingInvariant(TRANSCRIPT);
  });

  it('gives the same events for any chunking (random cuts)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: TRANSCRIPT.length }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), TRANSCRIPT.length];
        const chunks = points.slice(1).map((end, i) => TRANSCRIPT.subarray(points[i], end));
        expect(eventsText(decodeChunks(chunks))).toBe(eventsText(decode(TRANSCRIPT)));
      }),
      { seed: 7379, numRuns: 200 },
    );
  });

  it('never emits an unterminated line and holds only its bytes', () => {
    const events: MerkleKvEvent[] = [];
    const decoder = new MerkleKvDecoder((event) => events.push(event));
    decoder.push(bytes('GET a\r\nGET b'));
    expect(events).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(5);
    decoder.push(bytes('\r\n'));
    expect(events).toEqual([command({ name: 'GET', key: 'a' }), command({ name: 'GET', key: 'b' })]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('accepts plain Uint8Array chunks and ignores empty ones', () => {
    const view = new TextEncoder().encode('xxGET k\n').subarray(2);
    expect(decodeChunks([new Uint8Array(0), view, new Uint8Array(0)])).toEqual([command({ name: 'GET', key: 'k' })]);
  });

  it('stops mid-chunk when the sink closes the decoder', () => {
    const events: MerkleKvEvent[] = [];
    const decoder = new MerkleKvDecoder((event) => {
      events.push(event);
      decoder.close();
    });
    decoder.push(bytes('SHUTDOWN\r\nGET a\r\nGET b\r\n'));
    decoder.push(bytes('GET c\r\n'));
    expect(events).toEqual([command({ name: 'SHUTDOWN' })]);
    expect(decoder.closed).toBe(true);
  });

  it('rejects a non-positive line limit', () => {
    expect(() => new MerkleKvDecoder(() => undefined, { maxLineBytes: 0 })).toThrow(RangeError);
  });
});

describe('MerkleKvDecoder trimming (Rust str::trim: Unicode White_Space)', () => {
  it.each([
    ['ASCII spaces, tabs, CR, VT, FF', ' \t\x0b\x0cGET k \t\r'],
    ['NBSP and ideographic space', '\u00a0\u3000GET k\u3000\u00a0'],
    ['NEL, which JavaScript trim keeps', '\u0085GET k\u0085'],
    ['Ogham space, en quad, hair space, line/paragraph separators', '\u1680\u2000GET k\u200a\u2028\u2029'],
    ['narrow NBSP, medium math space', '\u202fGET k\u205f'],
  ])('strips %s', (_name, line) => {
    expect(decode(`${line}\n`)).toEqual([command({ name: 'GET', key: 'k' })]);
  });

  it('keeps characters that are not White_Space (BOM, zero-width space)', () => {
    expect(decode('GET k\u200b\n')).toEqual([command({ name: 'GET', key: 'k\u200b' })]);
    expect(decode('\ufeffGET k\n')).toEqual([error('Unknown command: \ufeffGET')]);
  });

  it('treats white space only lines as empty', () => {
    expect(decode('\n\r\n \t\r\n\u00a0\u3000\n')).toEqual(Array(4).fill(error('Empty command')));
  });

  it('keeps a CR inside a line (only trailing ones are trimmed)', () => {
    expect(decode('SET k a\rb\r\n')).toEqual([command({ name: 'SET', key: 'k', value: bytes('a\rb') })]);
  });
});

describe('MerkleKvDecoder line limit', () => {
  const setLine = (totalBytes: number, ending: '\r\n' | '\n'): Buffer =>
    bytes(`SET k ${'v'.repeat(totalBytes - 6 - ending.length)}${ending}`);

  it.each(['\r\n', '\n'] as const)('accepts a line of exactly %j-terminated 1,048,576 bytes', (ending) => {
    const line = setLine(LIMIT, ending);
    expect(line.length).toBe(LIMIT);
    const events = decode(Buffer.concat([line, bytes('GET k\r\n')]));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ kind: 'command', command: { name: 'SET', key: 'k' } });
    expect(events[0]?.kind === 'command' && events[0].command.name === 'SET' && events[0].command.value.length).toBe(
      LIMIT - 6 - ending.length,
    );
  });

  it('refuses a line one byte longer, after the lines before it, and then stops', () => {
    const input = Buffer.concat([bytes('GET a\r\n'), setLine(LIMIT + 1, '\r\n'), bytes('GET b\r\n')]);
    expect(decode(input)).toEqual([command({ name: 'GET', key: 'a' }), { kind: 'tooLong' }]);
  });

  it('decides at the same byte whatever the chunking', () => {
    for (const size of [LIMIT, LIMIT + 1]) {
      const input = Buffer.concat([setLine(size, '\n'), bytes('PING\n')]);
      const whole = eventsText(decode(input));
      for (const cut of [1, 4096, LIMIT - 2, LIMIT - 1, LIMIT, LIMIT + 1, input.length - 1]) {
        expect(eventsText(decodeChunks([input.subarray(0, cut), input.subarray(cut)]))).toBe(whole);
      }
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; at += 65_536) chunks.push(input.subarray(at, at + 65_536));
      expect(eventsText(decodeChunks(chunks))).toBe(whole);
    }
  });

  it('holds at most limit - 1 bytes of an unterminated line, then completes it', () => {
    const events: MerkleKvEvent[] = [];
    const decoder = new MerkleKvDecoder((event) => events.push(event));
    decoder.push(setLine(LIMIT, '\n').subarray(0, LIMIT - 1));
    expect(decoder.bufferedBytes).toBe(LIMIT - 1);
    expect(events).toEqual([]);
    decoder.push(bytes('\n'));
    expect(events).toHaveLength(1);
    expect(events[0]?.kind).toBe('command');
  });

  it('never buffers more than the limit while fed a 3 MiB line, and ignores everything after', () => {
    const events: MerkleKvEvent[] = [];
    const decoder = new MerkleKvDecoder((event) => events.push(event));
    const line = bytes(`SET huge ${'z'.repeat(3 * 1024 * 1024)}\r\nGET a\r\n`);
    let maxBuffered = 0;
    let maxRetained = 0;
    for (let at = 0; at < line.length; at += 16_384) {
      decoder.push(line.subarray(at, at + 16_384));
      maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
      maxRetained = Math.max(maxRetained, decoder.retainedBytes);
    }
    expect(maxBuffered).toBeLessThan(LIMIT);
    expect(maxRetained).toBeLessThanOrEqual(LIMIT);
    expect(events).toEqual([{ kind: 'tooLong' }]);
    expect(decoder.closed).toBe(true);
    expect(decoder.retainedBytes).toBe(0);
  });

  it('releases a large pending buffer once its line is done', () => {
    const decoder = new MerkleKvDecoder(() => undefined);
    const line = setLine(200_000, '\n');
    decoder.push(line.subarray(0, 150_000));
    expect(decoder.retainedBytes).toBeGreaterThanOrEqual(150_000);
    decoder.push(line.subarray(150_000));
    expect(decoder.retainedBytes).toBe(0);
  });
});

describe('MerkleKvDecoder UTF-8', () => {
  it.each([
    ['a lone 0xff', [0xff]],
    ['a bare continuation byte', [0x80]],
    ['an overlong slash', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a truncated euro sign', [0xe2, 0x82]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('closes on %s, after the valid lines before it, and emits nothing more', (_name, bad) => {
    const input = Buffer.concat([bytes('GET a\r\nSET k '), Buffer.from(bad), bytes('\r\nGET b\r\n')]);
    expect(decode(input)).toEqual([command({ name: 'GET', key: 'a' }), { kind: 'invalidUtf8' }]);
    expectChunkingInvariant(input);
  });

  it('judges an unterminated line only when its newline arrives', () => {
    const events: MerkleKvEvent[] = [];
    const decoder = new MerkleKvDecoder((event) => events.push(event));
    decoder.push(Buffer.from([0x47, 0x45, 0x54, 0x20, 0xff]));
    expect(events).toEqual([]);
    decoder.push(bytes('\n'));
    expect(events).toEqual([{ kind: 'invalidUtf8' }]);
  });

  it('accepts a four-byte character cut at every position', () => {
    expectChunkingInvariant(bytes('SET 🔑 😀𝄞\r\nGET 🔑\r\n'));
  });
});

describe('MerkleKvDecoder robustness', () => {
  const input = fc.oneof(fc.uint8Array({ maxLength: 400 }), protocolishBytes);
  const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 8 });

  function chunked(data: Uint8Array, at: number[]): Uint8Array[] {
    const points = [0, ...at.map((p) => p % (data.length + 1)).sort((a, b) => a - b), data.length];
    return points.slice(1).map((end, i) => data.subarray(points[i], end));
  }

  it('never throws on random bytes and decodes them the same however they are chunked', () => {
    fc.assert(
      fc.property(input, cuts, fc.constantFrom(undefined, 8, 32), (data, at, maxLineBytes) => {
        const options = maxLineBytes === undefined ? {} : { maxLineBytes };
        const whole = eventsText(decodeChunks([data], options));
        expect(eventsText(decodeChunks(chunked(data, at), options))).toBe(whole);
      }),
      { seed: 20_250_101, numRuns: 2000 },
    );
  });

  it('emits nothing after a closing event', () => {
    fc.assert(
      fc.property(input, (data) => {
        const events = decodeChunks([data], { maxLineBytes: 16 });
        const closing = events.findIndex((event) => event.kind === 'tooLong' || event.kind === 'invalidUtf8');
        expect(closing === -1 || closing === events.length - 1).toBe(true);
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});
