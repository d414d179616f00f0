/**
 * A push-fed parser of a MerkleKV `WATCH` stream, for a benchmark that must time every change.
 *
 * The node answers `WATCH <prefix>` with `WATCHING <prefix>`, then one line per committed change:
 * `CHANGE <key> <value>`, `DELETED <key>` or `TRUNCATED`; `END` once the client ends the watch;
 * `ERROR <message>` when it drops a watcher. Lines end `\r\n` (a bare `\n` is accepted too).
 *
 * The parser takes any chunking of the byte stream and reports a line only once its last byte has
 * arrived, so a line split across TCP segments is reported once, in the chunk that completes it:
 * the caller stamps the time when a chunk arrives and every event that chunk completes gets that
 * time. Only a line's head (up to `maxHead` bytes, enough for the verb and the key) is kept;
 * value bytes are skipped, never copied, so a watcher keeps up with large values.
 */
export type WatchLine =
  | { readonly kind: 'watching'; readonly prefix: string }
  | { readonly kind: 'change'; readonly key: string }
  | { readonly kind: 'deleted'; readonly key: string }
  | { readonly kind: 'truncated' }
  | { readonly kind: 'end' }
  | { readonly kind: 'error'; readonly message: string }
  /** Anything else, or a head that did not fit in `maxHead` bytes (its start is kept). */
  | { readonly kind: 'other'; readonly line: string };

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

const CHANGE = Buffer.from('CHANGE ');
const DELETED = Buffer.from('DELETED ');
const WATCHING = Buffer.from('WATCHING');
const ERROR = Buffer.from('ERROR');

function startsWith(buf: Buffer, len: number, word: Buffer): boolean {
  if (len < word.length) return false;
  return buf.compare(word, 0, word.length, 0, word.length) === 0;
}

function equals(buf: Buffer, len: number, word: string): boolean {
  if (len !== word.length) return false;
  for (let i = 0; i < len; i += 1) if (buf[i] !== word.charCodeAt(i)) return false;
  return true;
}

export class WatchParser {
  readonly #head: Buffer;
  #headLen = 0;
  /** The current line is longer than the head. */
  #overflow = false;
  /** The byte before the current position was a CR (it may end the line if an LF follows). */
  #pendingCr = false;

  constructor(
    private readonly onLine: (line: WatchLine) => void,
    maxHead = 512,
  ) {
    if (!Number.isInteger(maxHead) || maxHead < 16) throw new RangeError(`maxHead must be an integer >= 16, got ${maxHead}`);
    this.#head = Buffer.allocUnsafe(maxHead);
  }

  /** Consumes a chunk; reports every line it completes, in order. */
  feed(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(LF, pos);
      const end = nl === -1 ? buf.length : nl;
      if (end > pos) {
        // A CR held back from the previous chunk was inside the line after all.
        if (this.#pendingCr) this.#keep(CR_BYTE, 0, 1);
        this.#pendingCr = false;
        // Hold back a final CR: it belongs to the line only if no LF follows it.
        const last = buf[end - 1] === CR ? end - 1 : end;
        this.#keep(buf, pos, last);
        if (last < end) this.#pendingCr = true;
      }
      if (nl === -1) return;
      pos = nl + 1;
      this.#pendingCr = false;
      this.#emit();
    }
  }

  #keep(src: Uint8Array, from: number, to: number): void {
    const room = this.#head.length - this.#headLen;
    const n = Math.min(room, to - from);
    if (n > 0) {
      this.#head.set(src.subarray(from, from + n), this.#headLen);
      this.#headLen += n;
    }
    if (n < to - from) this.#overflow = true;
  }

  #emit(): void {
    const head = this.#head;
    const len = this.#headLen;
    const overflow = this.#overflow;
    this.#headLen = 0;
    this.#overflow = false;
    if (startsWith(head, len, CHANGE)) {
      // The key ends at the first space after the verb; a head cut inside the key is not a key.
      const space = head.indexOf(SPACE, CHANGE.length);
      const keyEnd = space === -1 || space >= len ? len : space;
      if (keyEnd > CHANGE.length && (keyEnd < len || !overflow)) {
        this.onLine({ kind: 'change', key: head.toString('utf8', CHANGE.length, keyEnd) });
        return;
      }
    } else if (startsWith(head, len, DELETED) && !overflow && len > DELETED.length) {
      this.onLine({ kind: 'deleted', key: head.toString('utf8', DELETED.length, len) });
      return;
    } else if (equals(head, len, 'TRUNCATED')) {
      this.onLine({ kind: 'truncated' });
      return;
    } else if (equals(head, len, 'END')) {
      this.onLine({ kind: 'end' });
      return;
    } else if (startsWith(head, len, WATCHING) && !overflow && (len === WATCHING.length || head[WATCHING.length] === SPACE)) {
      this.onLine({ kind: 'watching', prefix: head.toString('utf8', Math.min(len, WATCHING.length + 1), len) });
      return;
    } else if (startsWith(head, len, ERROR) && (len === ERROR.length || head[ERROR.length] === SPACE)) {
      this.onLine({ kind: 'error', message: head.toString('utf8', Math.min(len, ERROR.length + 1), len) });
      return;
    }
    this.onLine({ kind: 'other', line: head.toString('utf8', 0, len) });
  }
}

const CR_BYTE = Buffer.from([CR]);

/**
 * The sequence number of a benchmark key `<prefix><decimal>` (no sign, no leading zeros but
 * "0", at most 15 digits), or undefined for any other key.
 */
export function seqOfKey(key: string, prefix: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const n = key.length - prefix.length;
  if (n < 1 || n > 15) return undefined;
  if (n > 1 && key.charCodeAt(prefix.length) === 0x30) return undefined;
  let seq = 0;
  for (let i = prefix.length; i < key.length; i += 1) {
    const d = key.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    seq = seq * 10 + d;
  }
  return seq;
}
