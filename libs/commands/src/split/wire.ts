/**
 * What a gateway and a store-shard process say to each other: one {@link ShardRequest} to the
 * process serving one shard, one {@link ShardReply} back. The transport (NestJS microservices over
 * NATS) moves JSON, so bytes travel as `{"$b": base64}`, 64-bit integers as `{"$n": "decimal"}`,
 * and an absent value as null.
 *
 * Both directions are validated field by field: a store-shard process takes requests from
 * anything that can publish on NATS, and a gateway must not crash on a reply it cannot read.
 */
import { type Command, type CommandName, type Item, type ResultOf, type StoreMode, type WatchEvent } from '../command.js';
import { KvError, type KvErrorCode } from '../errors.js';

/** Bumped on any incompatible change; a process refuses a request of another version. */
export const SHARD_WIRE_VERSION = 1;

/** Commands a gateway hands to the process serving a shard, unchanged. */
export const SHARD_COMMANDS = [
  'GET',
  'SET',
  'DEL',
  'INCR',
  'APPEND',
  'PREPEND',
  'MGET',
  'MSET',
  'EXISTS',
  'SCAN',
  'DBSIZE',
  'MEMORY',
  'TRUNCATE',
  'REPLICATE',
  'STORE',
  'REMOVE',
  'TOUCH',
  'ADJUST',
  'LOOKUP',
] as const satisfies readonly CommandName[];

export type ShardCommandName = (typeof SHARD_COMMANDS)[number];
export type ShardCommand = Extract<Command, { name: ShardCommandName }>;

/** One shard's figures for STATS, INFO and the cluster view. */
export interface ShardFigures {
  /** The store-shard process's node id. */
  readonly node: string;
  readonly keys: number;
  readonly dataBytes: number;
  /** The shard's MST root hash. */
  readonly root: Uint8Array;
}

/** A page of a shard's reference HASH leaves, in key byte order. */
export interface LeafPage {
  readonly leaves: readonly (readonly [key: string, leafHash: Uint8Array])[];
  /** More leaves follow the last one of this page. */
  readonly more: boolean;
}

export type ShardRequest =
  | { readonly op: 'command'; readonly command: ShardCommand }
  | { readonly op: 'figures' }
  | { readonly op: 'leaves'; readonly prefix: string; readonly after?: string; readonly limit: number }
  /** Publish the shard's changes under `prefix` to the subject `to` until unwatched, or the lease runs out; repeating it renews the lease. */
  | { readonly op: 'watch'; readonly prefix: string; readonly to: string }
  | { readonly op: 'unwatch'; readonly to: string };

/** What each request answers. */
export interface ShardResultOf {
  readonly command: ResultOf[ShardCommandName];
  readonly figures: ShardFigures;
  readonly leaves: LeafPage;
  readonly watch: undefined;
  readonly unwatch: undefined;
}

export type ShardReply = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly code: KvErrorCode; readonly message: string };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The most leaves a page may ask for: keeps a reply well under NATS's default 1 MiB payload. */
export const MAX_LEAF_PAGE = 4096;

// ---------------------------------------------------------------------------------- encoding

/** Bytes, bigints and undefined in a JSON-safe form. */
export function toJson(value: unknown): Json {
  if (value === undefined || value === null) return null;
  if (value instanceof Uint8Array) return { $b: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (typeof value === 'bigint') return { $n: value.toString() };
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new TypeError(`cannot encode a ${typeof value} for a shard`);
}

export function encodeShardRequest(request: ShardRequest): Json {
  return { v: SHARD_WIRE_VERSION, ...(toJson(request) as { [key: string]: Json }) };
}

/** A reply carrying `result`, or the error (a {@link KvError} keeps its code; anything else is STORAGE). */
export function encodeShardReply(outcome: { result: unknown } | { error: unknown }): Json {
  if ('result' in outcome) return { ok: true, result: toJson(outcome.result) };
  const { error } = outcome;
  return error instanceof KvError
    ? { ok: false, code: error.code, message: error.message }
    : { ok: false, code: 'STORAGE', message: error instanceof Error ? error.message : String(error) };
}

// ---------------------------------------------------------------------------------- decoding

/** The request or reply is not what the shard wire allows. */
const invalid = (what: string): KvError => new KvError('BAD_REQUEST', `invalid shard message: ${what}`);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(`${what} must be a string`);
  return v;
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, what);
}

function int(v: unknown, what: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(`${what} must be an integer >= ${min}`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw invalid(`${what} must be a boolean`);
  return v;
}

function bytes(v: unknown, what: string): Uint8Array {
  if (!isRecord(v) || typeof v.$b !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v.$b)) throw invalid(`${what} must be bytes`);
  return new Uint8Array(Buffer.from(v.$b, 'base64'));
}

function optBytes(v: unknown, what: string): Uint8Array | undefined {
  return v === null ? undefined : bytes(v, what);
}

function big(v: unknown, what: string): bigint {
  if (!isRecord(v) || typeof v.$n !== 'string' || !/^-?\d{1,20}$/.test(v.$n)) throw invalid(`${what} must be a 64-bit integer`);
  return BigInt(v.$n);
}

function list<T>(v: unknown, what: string, item: (x: unknown, what: string) => T): T[] {
  if (!Array.isArray(v)) throw invalid(`${what} must be a list`);
  return v.map((x, i) => item(x, `${what}[${i}]`));
}

const STORE_MODES: ReadonlySet<string> = new Set<StoreMode>(['set', 'add', 'replace', 'append', 'prepend']);

function flags(v: unknown, what: string): number {
  const n = int(v, what);
  if (n > 0xffffffff) throw invalid(`${what} must fit 32 bits`);
  return n;
}

/** `{ [name]: value }` for a field sent, `{}` for one left out (JSON null). */
function optional<K extends string, T>(name: K, v: unknown, read: (v: unknown, what: string) => T): { [P in K]?: T } {
  return v === undefined || v === null ? {} : ({ [name]: read(v, name) } as { [P in K]?: T });
}

function item(v: unknown, what: string): Item | undefined {
  if (v === null) return undefined;
  if (!isRecord(v)) throw invalid(`${what} must be an item`);
  return {
    value: bytes(v.value, `${what} value`),
    flags: flags(v.flags, `${what} flags`),
    cas: big(v.cas, `${what} cas`),
    ...optional('expiresAt', v.expiresAt, int),
  };
}

/** An outcome word among those a command answers; `extra` reads what a success carries. */
function outcome<T>(v: unknown, what: string, words: readonly string[], success: string, extra: (v: Record<string, unknown>) => T): T {
  if (!isRecord(v) || typeof v.outcome !== 'string' || !words.includes(v.outcome)) throw invalid(`${what} has no known outcome`);
  return v.outcome === success ? extra(v) : ({ outcome: v.outcome } as T);
}

const keyList = (v: unknown, what: string): string[] => {
  const keys = list(v, what, str);
  if (keys.length === 0) throw invalid(`${what} must not be empty`);
  return keys;
};

/** Parses one command of {@link SHARD_COMMANDS}; any other shape is BAD_REQUEST. */
function decodeShardCommand(v: unknown): ShardCommand {
  if (!isRecord(v)) throw invalid('command must be an object');
  switch (v.name) {
    case 'GET':
    case 'DEL':
      return { name: v.name, key: str(v.key, 'key') };
    case 'SET':
    case 'APPEND':
    case 'PREPEND':
      return { name: v.name, key: str(v.key, 'key'), value: bytes(v.value, 'value') };
    case 'INCR':
      return { name: 'INCR', key: str(v.key, 'key'), amount: big(v.amount, 'amount') };
    case 'MGET':
    case 'EXISTS':
    case 'LOOKUP':
      return { name: v.name, keys: keyList(v.keys, 'keys') };
    case 'STORE': {
      if (typeof v.mode !== 'string' || !STORE_MODES.has(v.mode)) throw invalid('mode must be set, add, replace, append or prepend');
      return {
        name: 'STORE',
        key: str(v.key, 'key'),
        value: bytes(v.value, 'value'),
        mode: v.mode as StoreMode,
        ...optional('cas', v.cas, big),
        ...optional('flags', v.flags, flags),
        ...optional('expiresAt', v.expiresAt, int),
      };
    }
    case 'REMOVE':
      return { name: 'REMOVE', key: str(v.key, 'key'), ...optional('cas', v.cas, big) };
    case 'TOUCH':
      return { name: 'TOUCH', key: str(v.key, 'key'), ...optional('expiresAt', v.expiresAt, int) };
    case 'ADJUST': {
      let initial: { value: bigint; expiresAt?: number } | undefined;
      if (v.initial !== undefined && v.initial !== null) {
        if (!isRecord(v.initial)) throw invalid('initial must be an object');
        initial = { value: big(v.initial.value, 'initial value'), ...optional('expiresAt', v.initial.expiresAt, int) };
      }
      return {
        name: 'ADJUST',
        key: str(v.key, 'key'),
        delta: big(v.delta, 'delta'),
        ...optional('cas', v.cas, big),
        ...(initial === undefined ? {} : { initial }),
      };
    }
    case 'MSET': {
      const pairs = list(v.pairs, 'pairs', (p, what): [string, Uint8Array] => {
        if (!Array.isArray(p) || p.length !== 2) throw invalid(`${what} must be a [key, value] pair`);
        return [str(p[0], `${what} key`), bytes(p[1], `${what} value`)];
      });
      if (pairs.length === 0) throw invalid('pairs must not be empty');
      return { name: 'MSET', pairs };
    }
    case 'SCAN': {
      const after = optStr(v.after, 'after');
      return {
        name: 'SCAN',
        prefix: str(v.prefix, 'prefix'),
        ...(after === undefined ? {} : { after }),
        ...(v.limit === undefined || v.limit === null ? {} : { limit: int(v.limit, 'limit', 1) }),
      };
    }
    case 'DBSIZE':
    case 'MEMORY':
    case 'TRUNCATE':
      return { name: v.name };
    case 'REPLICATE':
      if (v.action !== 'enable' && v.action !== 'disable' && v.action !== 'status') throw invalid('action must be enable, disable or status');
      return { name: 'REPLICATE', action: v.action };
    default:
      throw invalid(`command ${JSON.stringify(v.name)} is not served by a shard`);
  }
}

/** Parses a request as a store-shard process receives it. */
export function decodeShardRequest(v: unknown): ShardRequest {
  if (!isRecord(v)) throw invalid('request must be an object');
  if (v.v !== SHARD_WIRE_VERSION) throw invalid(`version ${JSON.stringify(v.v)}, this process speaks ${SHARD_WIRE_VERSION}`);
  switch (v.op) {
    case 'command':
      return { op: 'command', command: decodeShardCommand(v.command) };
    case 'figures':
      return { op: 'figures' };
    case 'leaves': {
      const after = optStr(v.after, 'after');
      const limit = int(v.limit, 'limit', 1);
      if (limit > MAX_LEAF_PAGE) throw invalid(`limit above ${MAX_LEAF_PAGE}`);
      return { op: 'leaves', prefix: str(v.prefix, 'prefix'), ...(after === undefined ? {} : { after }), limit };
    }
    case 'watch':
      return { op: 'watch', prefix: str(v.prefix, 'prefix'), to: str(v.to, 'to') };
    case 'unwatch':
      return { op: 'unwatch', to: str(v.to, 'to') };
    default:
      throw invalid(`unknown op ${JSON.stringify(v.op)}`);
  }
}

const KV_ERROR_CODES: ReadonlySet<string> = new Set<KvErrorCode>([
  'BAD_REQUEST',
  'NOT_FOUND',
  'NOT_A_NUMBER',
  'OVERFLOW',
  'TOO_LARGE',
  'UNAVAILABLE',
  'SHUTTING_DOWN',
  'UNREPRESENTABLE',
  'STORAGE',
]);

/** What an unreadable reply becomes: the shard's answer is lost, not the gateway. */
const garbled = (what: string): KvError => new KvError('UNAVAILABLE', `unreadable reply from a store-shard process: ${what}`);

function decodeCommandResult(name: ShardCommandName, v: unknown): ResultOf[ShardCommandName] {
  switch (name) {
    case 'GET':
      return optBytes(v, 'GET result');
    case 'SET':
    case 'MSET':
    case 'TRUNCATE':
      return undefined;
    case 'DEL':
      return bool(v, 'DEL result');
    case 'INCR':
      return big(v, 'INCR result');
    case 'APPEND':
    case 'PREPEND':
      return bytes(v, `${name} result`);
    case 'MGET':
      return list(v, 'MGET result', optBytes);
    case 'EXISTS':
    case 'DBSIZE':
    case 'MEMORY':
      return int(v, `${name} result`);
    case 'SCAN':
      return list(v, 'SCAN result', str);
    case 'REPLICATE':
      if (!isRecord(v)) throw invalid('REPLICATE result must be an object');
      return { enabled: bool(v.enabled, 'enabled'), nodes: int(v.nodes, 'nodes', 1) };
    case 'LOOKUP':
      return list(v, 'LOOKUP result', item);
    case 'STORE':
      return outcome(v, 'STORE result', ['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND'], 'STORED', (r) => ({ outcome: 'STORED' as const, cas: big(r.cas, 'cas') }));
    case 'REMOVE':
      return outcome(v, 'REMOVE result', ['DELETED', 'EXISTS', 'NOT_FOUND'], 'DELETED', () => ({ outcome: 'DELETED' as const }));
    case 'TOUCH':
      return outcome(v, 'TOUCH result', ['TOUCHED', 'NOT_FOUND'], 'TOUCHED', (r) => ({ outcome: 'TOUCHED' as const, item: item(r.item, 'item')! }));
    case 'ADJUST':
      return outcome(v, 'ADJUST result', ['ADJUSTED', 'EXISTS', 'NOT_FOUND'], 'ADJUSTED', (r) => ({
        outcome: 'ADJUSTED' as const,
        value: big(r.value, 'value'),
        cas: big(r.cas, 'cas'),
      }));
  }
}

function decodeResult<R extends ShardRequest>(request: R, v: unknown): ShardResultOf[R['op']] {
  switch (request.op) {
    case 'command':
      return decodeCommandResult(request.command.name, v) as ShardResultOf[R['op']];
    case 'figures': {
      if (!isRecord(v)) throw invalid('figures must be an object');
      const figures: ShardFigures = {
        node: str(v.node, 'node'),
        keys: int(v.keys, 'keys'),
        dataBytes: int(v.dataBytes, 'dataBytes'),
        root: bytes(v.root, 'root'),
      };
      return figures as ShardResultOf[R['op']];
    }
    case 'leaves': {
      if (!isRecord(v)) throw invalid('leaves must be an object');
      const page: LeafPage = {
        leaves: list(v.leaves, 'leaves', (leaf, what): [string, Uint8Array] => {
          if (!Array.isArray(leaf) || leaf.length !== 2) throw invalid(`${what} must be a [key, hash] pair`);
          return [str(leaf[0], `${what} key`), bytes(leaf[1], `${what} hash`)];
        }),
        more: bool(v.more, 'more'),
      };
      return page as ShardResultOf[R['op']];
    }
    case 'watch':
    case 'unwatch':
      return undefined as ShardResultOf[R['op']];
  }
}

/** The result of `request` from its reply; an error reply is rethrown as the {@link KvError} it names. */
export function decodeShardReply<R extends ShardRequest>(request: R, v: unknown): ShardResultOf[R['op']] {
  if (!isRecord(v) || typeof v.ok !== 'boolean') throw garbled('not a reply');
  if (!v.ok) {
    if (typeof v.code !== 'string' || !KV_ERROR_CODES.has(v.code) || typeof v.message !== 'string') throw garbled('an error without a known code');
    throw new KvError(v.code as KvErrorCode, v.message);
  }
  try {
    return decodeResult(request, v.result);
  } catch (err) {
    throw garbled(err instanceof Error ? err.message : String(err));
  }
}

/** A watch event as a store-shard process pushes it to a gateway. */
export function encodeWatchEvent(event: WatchEvent): Json {
  return toJson(event);
}

/** A pushed watch event, or undefined when the message is not one (it is then dropped). */
export function decodeWatchEvent(v: unknown): WatchEvent | undefined {
  try {
    if (!isRecord(v)) return undefined;
    switch (v.kind) {
      case 'change':
        return { kind: 'change', key: str(v.key, 'key'), value: bytes(v.value, 'value') };
      case 'deleted':
        return { kind: 'deleted', key: str(v.key, 'key') };
      case 'truncated':
        return { kind: 'truncated' };
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}
