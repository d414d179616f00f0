import { seqOfKey, WatchParser, type WatchLine } from './watch-parser.js';

function parseChunks(chunks: readonly Buffer[], maxHead?: number): WatchLine[] {
  const lines: WatchLine[] = [];
  const parser = new WatchParser((line) => lines.push(line), maxHead);
  for (const chunk of chunks) parser.feed(chunk);
  return lines;
}

const STREAM = Buffer.from(
  [
    'WATCHING bench:',
    'CHANGE bench:1 hello world',
    'CHANGE bench:22 ',
    'CHANGE bench:3 a\rb',
    'DELETED bench:1',
    'TRUNCATED',
    'ERROR watch dropped: the client reads too slowly',
    'END',
    'WATCHING',
    'SOMETHING else',
    '',
  ].join('\r\n') + '\r\n',
);

const EXPECTED: WatchLine[] = [
  { kind: 'watching', prefix: 'bench:' },
  { kind: 'change', key: 'bench:1' },
  { kind: 'change', key: 'bench:22' },
  { kind: 'change', key: 'bench:3' },
  { kind: 'deleted', key: 'bench:1' },
  { kind: 'truncated' },
  { kind: 'error', message: 'watch dropped: the client reads too slowly' },
  { kind: 'end' },
  { kind: 'watching', prefix: '' },
  { kind: 'other', line: 'SOMETHING else' },
  { kind: 'other', line: '' },
];

describe('WatchParser', () => {
  it('parses every kind of line', () => {
    expect(parseChunks([STREAM])).toEqual(EXPECTED);
  });

  it('gives the same lines for the stream split at every byte, in two and in three', () => {
    for (let i = 0; i <= STREAM.length; i += 1) {
      expect(parseChunks([STREAM.subarray(0, i), STREAM.subarray(i)])).toEqual(EXPECTED);
      const j = Math.min(STREAM.length, i + 7);
      expect(parseChunks([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)])).toEqual(EXPECTED);
    }
  });

  it('gives the same lines fed one byte at a time', () => {
    const chunks = Array.from({ length: STREAM.length }, (_, i) => STREAM.subarray(i, i + 1));
    expect(parseChunks(chunks)).toEqual(EXPECTED);
  });

  it('reports a line only in the chunk that completes it', () => {
    const seen: number[] = [];
    let chunkNo = 0;
    const parser = new WatchParser(() => seen.push(chunkNo));
    for (const part of ['CHANGE bench:7 val', 'ue\r', '\nCHANGE bench:8 x\r\nCHA', 'NGE bench:9 y\r\n']) {
      chunkNo += 1;
      parser.feed(Buffer.from(part));
    }
    expect(seen).toEqual([3, 3, 4]);
  });

  it('accepts bare LF line ends and keeps a CR that is not at a line end', () => {
    expect(parseChunks([Buffer.from('CHANGE k\r1 v\nEND\n')])).toEqual([{ kind: 'change', key: 'k\r1' }, { kind: 'end' }]);
    expect(parseChunks([Buffer.from('CHANGE k\r'), Buffer.from('1 v\r\n')])).toEqual([{ kind: 'change', key: 'k\r1' }]);
  });

  it('skips long values without keeping them, whatever the chunking', () => {
    const value = 'v'.repeat(100_000);
    const bytes = Buffer.from(`CHANGE bench:5 ${value}\r\nCHANGE bench:6 ${value}\r\n`);
    const expected = [
      { kind: 'change', key: 'bench:5' },
      { kind: 'change', key: 'bench:6' },
    ];
    expect(parseChunks([bytes], 32)).toEqual(expected);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 997) chunks.push(bytes.subarray(i, i + 997));
    expect(parseChunks(chunks, 32)).toEqual(expected);
  });

  it('does not report a key cut by the head limit', () => {
    const key = `bench:${'9'.repeat(40)}`;
    const lines = parseChunks([Buffer.from(`CHANGE ${key} v\r\nCHANGE ${key}\r\n`)], 24);
    expect(lines.map((l) => l.kind)).toEqual(['other', 'other']);
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    const u8 = new Uint8Array(Buffer.from('CHANGE bench:1 x\r\n'));
    expect(parseChunks([u8 as Buffer])).toEqual([{ kind: 'change', key: 'bench:1' }]);
  });

  it('rejects a head too small for the verbs', () => {
    expect(() => new WatchParser(() => undefined, 8)).toThrow(RangeError);
  });
});

describe('seqOfKey', () => {
  it('reads canonical decimal sequence numbers after the prefix', () => {
    expect(seqOfKey('bench:0', 'bench:')).toBe(0);
    expect(seqOfKey('bench:123456', 'bench:')).toBe(123456);
    expect(seqOfKey('bench:999999999999999', 'bench:')).toBe(999999999999999);
  });

  it('refuses anything else', () => {
    for (const key of ['bench:', 'bench:01', 'bench:-1', 'bench:1a', 'bench:1.5', 'other:1', 'bench:probe', 'bench:1234567890123456']) {
      expect(seqOfKey(key, 'bench:')).toBeUndefined();
    }
  });
});
