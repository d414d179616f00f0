/**
 * memcached requests as the three wire forms (classic text, meta text, binary) decode them, and the
 * outcomes their replies encode. A request says what to do; its {@link Framing} says how the
 * reply must look (noreply, the meta flags to echo, the binary opcode and opaque). The mapping to
 * the command layer (`commands.ts`) sits between the two, so each wire form only parses and frames.
 */

import { type SignIn } from './auth.js';

/** memcached's longest key, in bytes. */
export const MEMCACHED_MAX_KEY_BYTES = 250;

/** How a storage request treats the key's current state. */
export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';

/** Meta flags that ask for something back in the reply, in request order (`c`, `f`, `k`, `O`, `s`, `t`, `b`). */
export interface MetaReturn {
  readonly flag: string;
  /** The token of `O` (opaque): echoed as sent. */
  readonly token?: string;
}

export type Framing =
  /** Classic text: `noreply` sends nothing back (errors excepted, as memcached does for parse errors). */
  | { readonly wire: 'text'; readonly noreply: boolean }
  /** Meta text: `quiet` (q) hides the common reply (EN for mg, HD for ms/md/ma); `returns` are echoed. */
  | { readonly wire: 'meta'; readonly quiet: boolean; readonly returns: readonly MetaReturn[]; readonly base64Key: boolean; readonly value: boolean }
  /** Binary: the response repeats the opcode and opaque; quiet opcodes answer only what memcached answers. */
  | { readonly wire: 'binary'; readonly opcode: number; readonly opaque: number; readonly quiet: boolean; readonly withKey: boolean };

export type MemcachedRequest =
  /**
   * get, gets, gat, gats, mg, binary get/getk/getq/getkq/gat*: `touch` is the exptime of gat.
   * `end: false` leaves the text reply's `END` out: one key of a gat of several, whose END follows the last.
   */
  | { readonly op: 'get'; readonly keys: readonly string[]; readonly withCas: boolean; readonly touch?: number; readonly end?: false; readonly framing: Framing }
  | {
      readonly op: 'store';
      readonly mode: StoreMode;
      readonly key: string;
      readonly flags: number;
      readonly exptime: number;
      readonly value: Buffer;
      /** The compare value of cas (text), `C` (meta) or the header's cas (binary); 0n: none. */
      readonly cas: bigint;
      readonly framing: Framing;
    }
  | { readonly op: 'delete'; readonly key: string; readonly cas: bigint; readonly framing: Framing }
  | {
      readonly op: 'incr';
      readonly key: string;
      readonly delta: bigint;
      readonly decrement: boolean;
      /** Binary and meta may create a missing key with this value (and exptime); absent: NOT_FOUND. */
      readonly create?: { readonly initial: bigint; readonly exptime: number };
      /** Meta `C`: only if the key's CAS value is this one; 0n: no condition. */
      readonly cas: bigint;
      readonly framing: Framing;
    }
  | { readonly op: 'touch'; readonly key: string; readonly exptime: number; readonly framing: Framing }
  /** flush_all [delay]: `delay` in seconds, 0 for now. */
  | { readonly op: 'flush'; readonly delay: number; readonly framing: Framing }
  | { readonly op: 'version'; readonly framing: Framing }
  | { readonly op: 'stats'; readonly framing: Framing }
  /** me: what memcached tells of a key (debug). */
  | { readonly op: 'debug'; readonly key: string; readonly framing: Framing }
  /** mn, binary noop, verbosity: answered in order, nothing executed. */
  | { readonly op: 'noop'; readonly framing: Framing }
  /** quit: close once every earlier reply is out. */
  | { readonly op: 'quit'; readonly framing: Framing }
  /**
   * Binary SASL: `list` the mechanisms (0x20), `start` one (0x21) or take a `step` (0x22), with the
   * mechanism named in the key and its message as the value.
   */
  | { readonly op: 'sasl'; readonly step: 'list' | 'start' | 'step'; readonly mechanism: string; readonly message: Buffer; readonly framing: Framing }
  /**
   * A sign-in, as the dispatch makes it of a text `set` or a SASL message (the decoder never
   * does): it runs an AUTH, and its answer tells `signIn` how it went.
   */
  | { readonly op: 'auth'; readonly signIn: SignIn; readonly framing: Framing };

/** One stored item as a retrieval reply shows it. */
export interface MemcachedItem {
  readonly value: Uint8Array;
  readonly flags: number;
  readonly cas: bigint;
  /** Seconds left, or -1 without expiry (meta `t`). */
  readonly ttl: number;
}

/** What a request came to, whatever its wire form: the reply encoders' input. */
export type MemcachedOutcome =
  | { readonly op: 'get'; readonly items: readonly (MemcachedItem | undefined)[] }
  | { readonly op: 'store'; readonly status: 'stored' | 'not_stored' | 'exists' | 'not_found'; readonly cas: bigint }
  | { readonly op: 'delete'; readonly status: 'deleted' | 'not_found' | 'exists' }
  | { readonly op: 'incr'; readonly status: 'adjusted' | 'not_found' | 'exists'; readonly value: bigint; readonly cas: bigint }
  | { readonly op: 'touch'; readonly touched: boolean }
  | { readonly op: 'flush' }
  | { readonly op: 'version'; readonly version: string }
  | { readonly op: 'stats'; readonly stats: readonly (readonly [string, string])[] }
  | { readonly op: 'debug'; readonly item: MemcachedItem | undefined }
  | { readonly op: 'noop' }
  | { readonly op: 'signed-in' }
  /** SASL: the mechanisms offered (0x20), or a start without a message, answered by an empty challenge. */
  | { readonly op: 'mechanisms'; readonly names: string }
  | { readonly op: 'sasl-continue' };

/** Protocol-level failures, each encoded as its wire form requires. */
export type MemcachedFailure =
  /** The request line or packet is malformed: `CLIENT_ERROR <why>`, binary "Invalid arguments". */
  | { readonly kind: 'client'; readonly message: string }
  /** Unknown command: `ERROR`, binary "Unknown command". */
  | { readonly kind: 'unknown' }
  /** Value over the limit: `SERVER_ERROR object too large for cache`, binary "Too large.". */
  | { readonly kind: 'too-large' }
  /** incr/decr of a value that is not a number. */
  | { readonly kind: 'not-a-number' }
  /** The node cannot do it now (storage, memory pressure, shutting down): `SERVER_ERROR <why>`. */
  | { readonly kind: 'server'; readonly message: string }
  /** A command before sign-in: `CLIENT_ERROR unauthenticated`, binary "Auth failure.". */
  | { readonly kind: 'unauthenticated' }
  /** A refused sign-in: `CLIENT_ERROR authentication failure`, binary status 0x20; `reason` when it is not the credentials. */
  | { readonly kind: 'auth-failed'; readonly reason?: string }
  /** The user signed in may not do this: `CLIENT_ERROR <why>`, binary status 0x24 (no access). */
  | { readonly kind: 'forbidden'; readonly message: string };
