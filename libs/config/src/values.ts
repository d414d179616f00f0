import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { type PeerAddress } from './types.js';

/**
 * Value parsers shared by the three sources. A parser takes either a string (environment,
 * command line) or a TOML value (config file) and returns the typed value, or throws `Invalid`
 * with a reason that completes "<key>: ...". Strings are accepted in the file too, as the
 * reference server's `config` crate does (`port = "7379"` loads there), so a file written for it
 * loads here unchanged.
 */

/** Thrown by parsers; the loader turns it into a ConfigError that names the key and the origin. */
export class Invalid extends Error {
  override readonly name = 'Invalid';
  constructor(
    readonly reason: string,
    /** The offending part of the input when it is not the whole input (one element of a list). */
    readonly offending?: unknown,
  ) {
    super(reason);
  }
}

export interface ParseContext {
  /** Relative paths resolve against it. */
  readonly cwd: string;
  /** A remark about an accepted value (an alias, a lossy mapping); the loader adds the origin. */
  warn(message: string): void;
}

export type Parser<T> = (input: unknown, ctx: ParseContext) => T;

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** How a rejected value is shown in a message: short, quoted when a string. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) {
    const text = `[${v.map(describeValue).join(', ')}]`;
    return text.length > 100 ? `${text.slice(0, 97)}...]` : text;
  }
  if (isTable(v)) return 'a table';
  return String(v);
}

export function integer(min: number, max: number): Parser<number> {
  const reason = `must be an integer ${min}-${max}`;
  return (input) => {
    let n: number;
    if (typeof input === 'number') n = input;
    else if (typeof input === 'bigint') throw new Invalid(reason);
    else if (typeof input === 'string' && /^[+-]?\d+$/.test(input.trim())) n = Number(input.trim());
    else throw new Invalid(reason);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Invalid(reason);
    return n;
  };
}

export const port: Parser<number> = integer(0, 65535);

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };

/** A size in bytes: an integer, or a number with a unit (`256MiB`, `1.5 GiB`, `64kb`). */
export function byteSize(min: number, max: number): Parser<number> {
  const reason = `must be a size of ${min}-${max} bytes: an integer, or a number with KiB, MiB or GiB (e.g. 256MiB)`;
  return (input) => {
    let n: number;
    if (typeof input === 'number') n = input;
    else if (typeof input === 'string') {
      const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
      const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
      if (!match || unit === undefined) throw new Invalid(reason);
      n = Math.round(Number(match[1]) * unit);
    } else throw new Invalid(reason);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Invalid(reason);
    return n;
  };
}

const DISABLED = new Set(['off', 'false', 'no', 'none', 'disabled', '-1']);

/** A listener port that may be turned off: `-1`, `false` or `"off"` give `null`. */
export const optionalPort: Parser<number | null> = (input, ctx) => {
  if (input === false || input === -1) return null;
  if (typeof input === 'string' && DISABLED.has(input.trim().toLowerCase())) return null;
  try {
    return port(input, ctx);
  } catch {
    throw new Invalid('must be an integer 0-65535, or -1 / off to disable the listener');
  }
};

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

export const boolean: Parser<boolean> = (input) => {
  if (typeof input === 'boolean') return input;
  if (typeof input === 'string') {
    const word = input.trim().toLowerCase();
    if (TRUE.has(word)) return true;
    if (FALSE.has(word)) return false;
  }
  throw new Invalid('must be true or false (also yes/no, on/off, 1/0)');
};

export const isBooleanWord = (s: string): boolean => {
  const word = s.trim().toLowerCase();
  return TRUE.has(word) || FALSE.has(word);
};

/**
 * One of a fixed set of words, case-insensitive. `choices` maps every accepted spelling to its
 * value; `canonical` lists the spellings named in the error message. An accepted spelling that is
 * not canonical produces the remark `aliases[spelling]`, if any.
 */
export function oneOf<T extends string>(
  canonical: readonly T[],
  choices: Readonly<Record<string, T>>,
  remarks: Readonly<Record<string, string>> = {},
): Parser<T> {
  return (input, ctx) => {
    if (typeof input === 'string') {
      const word = input.trim().toLowerCase();
      const value = Object.hasOwn(choices, word) ? choices[word] : undefined;
      if (value !== undefined) {
        const remark = Object.hasOwn(remarks, word) ? remarks[word] : undefined;
        if (remark !== undefined) ctx.warn(remark);
        return value;
      }
    }
    throw new Invalid(`must be one of ${canonical.join(', ')}`);
  };
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A node id or cluster name. It becomes a token of NATS subjects and a JetStream consumer or
 * stream name, where `.`, `*`, `>`, whitespace and path separators are not allowed.
 */
export const name: Parser<string> = (input) => {
  if (typeof input === 'string' && NAME.test(input.trim())) return input.trim();
  throw new Invalid('must be 1-64 characters from A-Z a-z 0-9 _ -');
};

export const isName = (s: string): boolean => NAME.test(s);

const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

function hostOrUndefined(raw: string): string | undefined {
  const s = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(s) !== 0) return s;
  // A bracketed name or a bare word with a colon is neither a hostname nor an address.
  if (s !== raw) return undefined;
  return HOSTNAME.test(s) ? s : undefined;
}

/** A hostname or an IPv4/IPv6 address (brackets around IPv6 are dropped). */
export const host: Parser<string> = (input) => {
  const h = typeof input === 'string' ? hostOrUndefined(input.trim()) : undefined;
  if (h === undefined) throw new Invalid('must be a hostname or an IP address');
  return h;
};

/** A filesystem path, made absolute against the working directory. */
export const path: Parser<string> = (input, ctx) => {
  if (typeof input !== 'string' || input.trim() === '' || input.includes('\0')) {
    throw new Invalid('must be a non-empty path');
  }
  return resolve(ctx.cwd, input.trim());
};

/** Non-empty text on one line (a token, a prefix). */
export const text: Parser<string> = (input) => {
  if (typeof input !== 'string' || input.trim() === '' || /[\r\n]/.test(input)) {
    throw new Invalid('must be non-empty text on one line');
  }
  return input.trim();
};

/** A list given as a TOML array of strings or as one comma-separated string. */
function list<T>(element: (item: string) => T, reason: string): Parser<T[]> {
  return (input) => {
    let items: unknown[];
    if (typeof input === 'string') items = input.split(',');
    else if (Array.isArray(input)) items = input;
    else throw new Invalid(reason);
    const out: T[] = [];
    for (const item of items) {
      if (typeof item !== 'string') throw new Invalid(reason, item);
      const trimmed = item.trim();
      // "a,,b" and a trailing comma are forgiven; an empty TOML array is a valid empty list.
      if (trimmed === '') continue;
      out.push(element(trimmed));
    }
    return out;
  };
}

const NATS_SCHEMES = new Set(['nats:', 'tls:', 'ws:', 'wss:']);
const NATS_REASON = 'must be NATS server URLs (nats://host:port, tls://, ws://, wss://, or host:port)';

function natsUrl(item: string): string {
  let url: URL;
  try {
    url = new URL(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(item) ? item : `nats://${item}`);
  } catch {
    throw new Invalid(NATS_REASON, item);
  }
  if (!NATS_SCHEMES.has(url.protocol) || url.hostname === '' || /\s/.test(item)) {
    throw new Invalid(NATS_REASON, item);
  }
  return item;
}

export const natsServers: Parser<string[]> = list(natsUrl, NATS_REASON);

const SHARD_RANGES_REASON = 'must be shard numbers and ranges, e.g. "0-7,12"';

function shardRange(item: string): number[] {
  const match = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(item);
  if (!match) throw new Invalid(SHARD_RANGES_REASON, item);
  const lo = Number(match[1]);
  const hi = match[2] === undefined ? lo : Number(match[2]);
  if (hi < lo) throw new Invalid(SHARD_RANGES_REASON, item);
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/** Shard numbers, ascending and distinct; the loader checks them against `shards`. */
export const shardRanges: Parser<number[]> = (input, ctx) => {
  const shards = [...new Set(list(shardRange, SHARD_RANGES_REASON)(input, ctx).flat())].sort((a, b) => a - b);
  if (shards.length === 0) throw new Invalid(SHARD_RANGES_REASON);
  return shards;
};

const PEER_REASON = 'must be host:port addresses (IPv6 as [addr]:port), port 1-65535';

function peer(item: string): PeerAddress {
  const colon = item.lastIndexOf(':');
  const h = colon > 0 ? hostOrUndefined(item.slice(0, colon)) : undefined;
  const p = item.slice(colon + 1);
  // An unbracketed IPv6 address has colons of its own: insist on brackets to avoid guessing.
  if (h === undefined || (h.includes(':') && !item.startsWith('[')) || !/^\d{1,5}$/.test(p)) {
    throw new Invalid(PEER_REASON, item);
  }
  const n = Number(p);
  if (n < 1 || n > 65535) throw new Invalid(PEER_REASON, item);
  return { host: h, port: n };
}

export const peers: Parser<PeerAddress[]> = list(peer, PEER_REASON);

export { isTable };
