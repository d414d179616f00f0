import { StringDecoder } from 'node:string_decoder';

/** Longest line kept verbatim; longer lines are cut so that one runaway line cannot eat memory. */
const MAX_LINE_CHARS = 8 * 1024;

/**
 * The last `capacity` lines a process printed, for failure messages. A fixed ring: recording a
 * line is O(1) and memory stays bounded however chatty the process is.
 */
export class LogBuffer {
  readonly #lines: string[];
  #next = 0;
  #size = 0;
  #dropped = 0;

  constructor(readonly capacity = 200) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#lines = new Array<string>(capacity);
  }

  push(line: string): void {
    const kept = line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}… (${line.length} chars)` : line;
    this.#lines[this.#next] = kept;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size += 1;
    else this.#dropped += 1;
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    const out: string[] = [];
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let i = 0; i < this.#size; i += 1) out.push(this.#lines[(start + i) % this.capacity] ?? '');
    return out;
  }

  /** The kept lines as one text, with a note of how many older lines were dropped. */
  text(): string {
    const lines = this.lines();
    if (this.#dropped > 0) lines.unshift(`(… ${this.#dropped} earlier lines dropped)`);
    return lines.join('\n');
  }
}

/**
 * Cuts a byte stream into lines (LF, with an optional CR before it), decoding UTF-8 safely
 * across chunk boundaries. A partial line that grows past the cap is emitted as it stands.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    let text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.onLine(text.slice(start, end));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    text = text.slice(start);
    if (text.length > MAX_LINE_CHARS * 8) {
      this.onLine(text);
      text = '';
    }
    this.#partial = text;
  }

  /** Emits whatever is left (a last line without a newline). */
  end(): void {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest.length > 0) this.onLine(rest);
  }
}
