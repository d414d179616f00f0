/**
 * The two text protocols the load generator speaks, reduced to what a benchmark needs: encode
 * a GET or a SET, and count replies as they complete. Reply parsers are push-fed state
 * machines: they take any chunking of the byte stream and report a reply only once its last
 * byte has arrived, so a reply split across TCP segments is counted once, at the right time.
 * They copy at most a short line head per reply; value bytes are skipped, never copied.
 */

/** How a reply ended: a hit or success, a miss (GET of an absent key), or an error reply. */
export const Reply = { Ok: 0, Miss: 1, Error: 2 } as const;
export type Reply = (typeof Reply)[keyof typeof Reply];

export interface ReplyParser {
  /** Consumes a chunk; calls the parser's callback once per completed reply, in order. */
  feed(chunk: Buffer): void;
}

export interface Protocol {
  readonly name: ProtocolName;
  getRequest(key: string): Buffer;
  setRequest(key: string, value: Buffer): Buffer;
  createParser(onReply: (reply: Reply) => void): ReplyParser;
  /** The protocol's sign-in request for a user, and the exact reply that accepts it. */
  signIn(user: string, password: string): { readonly request: Buffer; readonly accepted: string };
}

export type ProtocolName = 'merklekv' | 'memcached';

const LF = 0x0a;
const CR = 0x0d;

/** Whether `buf[0..len)`, minus a trailing CR, equals `word` (ASCII). */
function lineEquals(buf: Buffer, len: number, word: string): boolean {
  const n = len > 0 && buf[len - 1] === CR ? len - 1 : len;
  if (n !== word.length) return false;
  for (let i = 0; i < n; i += 1) if (buf[i] !== word.charCodeAt(i)) return false;
  return true;
}

function lineStartsWith(buf: Buffer, len: number, prefix: string): boolean {
  if (len < prefix.length) return false;
  for (let i = 0; i < prefix.length; i += 1) if (buf[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/**
 * MerkleKV replies to GET and SET are one line each: `OK`, `VALUE <v>`, `NOT_FOUND` or
 * `ERROR <msg>`. Only the first bytes of a line decide its kind, so only they are kept.
 */
class MerkleKvReplyParser implements ReplyParser {
  readonly #head = Buffer.alloc(16);
  #headLen = 0;

  constructor(private readonly onReply: (reply: Reply) => void) {}

  feed(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(LF, pos);
      const end = nl === -1 ? chunk.length : nl;
      if (this.#headLen < this.#head.length && end > pos) {
        const n = Math.min(this.#head.length - this.#headLen, end - pos);
        chunk.copy(this.#head, this.#headLen, pos, pos + n);
        this.#headLen += n;
      }
      if (nl === -1) return;
      pos = nl + 1;
      const head = this.#head;
      const len = this.#headLen;
      this.#headLen = 0;
      if (lineStartsWith(head, len, 'VALUE ') || lineEquals(head, len, 'OK')) this.onReply(Reply.Ok);
      else if (lineEquals(head, len, 'NOT_FOUND')) this.onReply(Reply.Miss);
      else this.onReply(Reply.Error);
    }
  }
}

/**
 * memcached: a storage reply is one line (`STORED`, or `NOT_STORED`/`ERROR`/`CLIENT_ERROR …`/
 * `SERVER_ERROR …`); a retrieval reply is zero or more `VALUE <key> <flags> <bytes> [<cas>]`
 * lines, each followed by a data block of <bytes> plus CRLF, then `END`. The header line is
 * kept whole (keys are at most 250 bytes) to read the byte count; the data block is skipped.
 */
class MemcachedReplyParser implements ReplyParser {
  readonly #line = Buffer.alloc(512);
  #lineLen = 0;
  #overflow = false;
  #skip = 0;
  #values = 0;

  constructor(private readonly onReply: (reply: Reply) => void) {}

  feed(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - pos);
        this.#skip -= n;
        pos += n;
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      const end = nl === -1 ? chunk.length : nl;
      if (end > pos) {
        const n = Math.min(this.#line.length - this.#lineLen, end - pos);
        chunk.copy(this.#line, this.#lineLen, pos, pos + n);
        this.#lineLen += n;
        if (n < end - pos) this.#overflow = true;
      }
      if (nl === -1) return;
      pos = nl + 1;
      this.#onLine();
    }
  }

  #onLine(): void {
    const line = this.#line;
    const len = this.#lineLen;
    const overflow = this.#overflow;
    this.#lineLen = 0;
    this.#overflow = false;
    if (overflow) {
      this.#values = 0;
      this.onReply(Reply.Error);
    } else if (lineStartsWith(line, len, 'VALUE ')) {
      const bytes = Number(line.toString('latin1', 0, len).trim().split(' ')[3]);
      if (!Number.isSafeInteger(bytes) || bytes < 0) {
        this.#values = 0;
        this.onReply(Reply.Error);
        return;
      }
      this.#skip = bytes + 2;
      this.#values += 1;
    } else if (lineEquals(line, len, 'END')) {
      const hit = this.#values > 0;
      this.#values = 0;
      this.onReply(hit ? Reply.Ok : Reply.Miss);
    } else if (lineEquals(line, len, 'STORED')) {
      this.onReply(Reply.Ok);
    } else {
      this.#values = 0;
      this.onReply(Reply.Error);
    }
  }
}

export const merklekv: Protocol = {
  name: 'merklekv',
  getRequest: (key) => Buffer.from(`GET ${key}\r\n`),
  setRequest: (key, value) => Buffer.concat([Buffer.from(`SET ${key} `), value, Buffer.from('\r\n')]),
  createParser: (onReply) => new MerkleKvReplyParser(onReply),
  signIn: (user, password) => ({ request: Buffer.from(`AUTH ${user} ${password}\r\n`), accepted: 'OK\r\n' }),
};

export const memcached: Protocol = {
  name: 'memcached',
  getRequest: (key) => Buffer.from(`get ${key}\r\n`),
  setRequest: (key, value) => Buffer.concat([Buffer.from(`set ${key} 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]),
  createParser: (onReply) => new MemcachedReplyParser(onReply),
  // memcached's ASCII authentication: a first `set` whose data block is `<user> <password>`.
  signIn: (user, password) => {
    const token = Buffer.from(`${user} ${password}`);
    return { request: Buffer.concat([Buffer.from(`set auth 0 0 ${token.length}\r\n`), token, Buffer.from('\r\n')]), accepted: 'STORED\r\n' };
  },
};

export const protocols: Readonly<Record<ProtocolName, Protocol>> = { merklekv, memcached };
