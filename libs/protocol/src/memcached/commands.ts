/**
 * memcached requests on the one command layer: the command each request runs, and the outcome its
 * result comes to. This is the only place that knows both vocabularies; the wire forms only parse
 * and frame, the command layer knows nothing of memcached.
 */
import { BAD_CREDENTIALS, type Command, type Item, type KvErrorCode, memcachedExpiry, remainingSeconds, type ResultOf } from '#commands';

import { type MemcachedFailure, type MemcachedItem, type MemcachedOutcome, type MemcachedRequest } from './request.js';

/**
 * The commands `request` runs, in order; the replies to them, in that order, are its reply. A gat
 * of several keys touches each (the command layer touches one key at a time). `noop`, `quit`,
 * delayed flushes and SASL run none, and a sign-in's AUTH is made by the dispatch: they never get
 * here. `nowMs` turns exptimes into absolute expiries.
 */
export function commandsOf(request: MemcachedRequest, nowMs: number): { readonly command: Command; readonly request: MemcachedRequest }[] {
  const one = (command: Command): { command: Command; request: MemcachedRequest }[] => [{ command, request }];
  switch (request.op) {
    case 'get': {
      const { touch } = request;
      if (touch === undefined) return one({ name: 'LOOKUP', keys: request.keys });
      const expiresAt = memcachedExpiry(touch, nowMs);
      const last = request.keys.length - 1;
      return request.keys.map((key, i) => ({
        command: { name: 'TOUCH', key, ...(expiresAt === undefined ? {} : { expiresAt }) },
        request: { ...request, keys: [key], ...(i < last ? { end: false as const } : {}) },
      }));
    }
    case 'store': {
      const expiresAt = memcachedExpiry(request.exptime, nowMs);
      const mode = request.mode === 'cas' ? 'set' : request.mode;
      return one({
        name: 'STORE',
        key: request.key,
        value: request.value,
        mode,
        flags: request.flags,
        ...(request.cas === 0n ? {} : { cas: request.cas }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
    }
    case 'delete':
      return one({ name: 'REMOVE', key: request.key, ...(request.cas === 0n ? {} : { cas: request.cas }) });
    case 'incr': {
      const { create } = request;
      let initial = {};
      if (create !== undefined) {
        const expiresAt = memcachedExpiry(create.exptime, nowMs);
        initial = { initial: { value: create.initial, ...(expiresAt === undefined ? {} : { expiresAt }) } };
      }
      const cas = request.cas === 0n ? {} : { cas: request.cas };
      return one({ name: 'ADJUST', key: request.key, delta: request.decrement ? -request.delta : request.delta, ...initial, ...cas });
    }
    case 'touch': {
      const expiresAt = memcachedExpiry(request.exptime, nowMs);
      return one({ name: 'TOUCH', key: request.key, ...(expiresAt === undefined ? {} : { expiresAt }) });
    }
    case 'flush':
      return one({ name: 'TRUNCATE' });
    case 'version':
      return one({ name: 'VERSION' });
    case 'stats':
      return one({ name: 'STATS' });
    case 'debug':
      return one({ name: 'LOOKUP', keys: [request.key] });
    case 'noop':
    case 'quit':
    case 'sasl':
    case 'auth':
      throw new Error(`${request.op} runs no command of its own`);
  }
}

function itemOf(item: Item | undefined, nowMs: number): MemcachedItem | undefined {
  if (item === undefined) return undefined;
  const ttl = item.expiresAt === undefined ? -1 : remainingSeconds(item.expiresAt, nowMs);
  // The CAS value is worked out only if the reply shows it (see CAS_VALUES in #commands).
  return {
    value: item.value,
    flags: item.flags,
    get cas() {
      return item.cas;
    },
    ttl,
  };
}

const STORE_STATUS = { STORED: 'stored', NOT_STORED: 'not_stored', EXISTS: 'exists', NOT_FOUND: 'not_found' } as const;
const REMOVE_STATUS = { DELETED: 'deleted', EXISTS: 'exists', NOT_FOUND: 'not_found' } as const;

/** What the result of one of `commandsOf(request)` means for the request, counted in memcached's statistics. */
export function outcomeOf(request: MemcachedRequest, command: Command, result: unknown, figures: StatsFigures): MemcachedOutcome {
  const c = figures.counters;
  const nowMs = figures.nowMs();
  switch (command.name) {
    case 'LOOKUP': {
      const items = (result as ResultOf['LOOKUP']).map((item) => itemOf(item, nowMs));
      if (request.op === 'debug') return { op: 'debug', item: items[0] };
      const hits = items.filter((i) => i !== undefined).length;
      c.cmdGet += items.length;
      c.getHits += hits;
      c.getMisses += items.length - hits;
      return { op: 'get', items };
    }
    case 'TOUCH': {
      const touched = result as ResultOf['TOUCH'];
      c.cmdTouch++;
      if (touched.outcome === 'TOUCHED') c.touchHits++;
      else c.touchMisses++;
      if (request.op === 'touch') return { op: 'touch', touched: touched.outcome === 'TOUCHED' };
      return { op: 'get', items: [touched.outcome === 'TOUCHED' ? itemOf(touched.item, nowMs) : undefined] };
    }
    case 'STORE': {
      const stored = result as ResultOf['STORE'];
      c.cmdSet++;
      if (command.cas !== undefined) {
        if (stored.outcome === 'STORED') c.casHits++;
        else if (stored.outcome === 'EXISTS') c.casBadval++;
        else if (stored.outcome === 'NOT_FOUND') c.casMisses++;
      }
      return {
        op: 'store',
        status: STORE_STATUS[stored.outcome],
        get cas() {
          return stored.outcome === 'STORED' ? stored.cas : 0n;
        },
      };
    }
    case 'REMOVE': {
      const removed = result as ResultOf['REMOVE'];
      if (removed.outcome === 'DELETED') c.deleteHits++;
      else c.deleteMisses++;
      return { op: 'delete', status: REMOVE_STATUS[removed.outcome] };
    }
    case 'ADJUST': {
      const adjusted = result as ResultOf['ADJUST'];
      const hit = adjusted.outcome === 'ADJUSTED';
      if (command.delta < 0n) {
        if (hit) c.decrHits++;
        else c.decrMisses++;
      } else if (hit) c.incrHits++;
      else c.incrMisses++;
      if (!hit) return { op: 'incr', status: adjusted.outcome === 'EXISTS' ? 'exists' : 'not_found', value: 0n, cas: 0n };
      return {
        op: 'incr',
        status: 'adjusted',
        value: adjusted.value,
        get cas() {
          return adjusted.cas;
        },
      };
    }
    case 'TRUNCATE':
      c.cmdFlush++;
      return { op: 'flush' };
    case 'VERSION':
      return { op: 'version', version: result as string };
    case 'STATS':
      return { op: 'stats', stats: memcachedStats(result as ResultOf['STATS'], figures) };
    case 'AUTH':
      return { op: 'signed-in' };
    default:
      throw new Error(`no memcached outcome for ${command.name}`);
  }
}

/** How a command layer error reads on memcached; `signingIn` when the command was a sign-in's AUTH. */
export function failureOf(code: KvErrorCode | undefined, message: string, signingIn = false): MemcachedFailure {
  switch (code) {
    case 'UNAUTHENTICATED':
      if (!signingIn) return { kind: 'unauthenticated' };
      // memcached's own words for wrong credentials; any other reason (too many attempts) is told.
      return message === BAD_CREDENTIALS ? { kind: 'auth-failed' } : { kind: 'auth-failed', reason: message };
    case 'FORBIDDEN':
      return { kind: 'forbidden', message };
    case 'TOO_LARGE':
      return { kind: 'too-large' };
    case 'NOT_A_NUMBER':
      return { kind: 'not-a-number' };
    case 'BAD_REQUEST':
      return { kind: 'client', message };
    default:
      return { kind: 'server', message };
  }
}

/** memcached's request counters that the command layer does not keep: hits and misses. */
export class MemcachedCounters {
  cmdGet = 0;
  getHits = 0;
  getMisses = 0;
  cmdSet = 0;
  cmdFlush = 0;
  cmdTouch = 0;
  touchHits = 0;
  touchMisses = 0;
  deleteHits = 0;
  deleteMisses = 0;
  incrHits = 0;
  incrMisses = 0;
  decrHits = 0;
  decrMisses = 0;
  casHits = 0;
  casMisses = 0;
  casBadval = 0;

}

/** What a `stats` reply is made of besides the command layer's STATS. */
export interface StatsFigures {
  readonly counters: MemcachedCounters;
  readonly pid: number;
  readonly version: string;
  readonly maxValueBytes: number;
  /** Milliseconds since the epoch. */
  nowMs(): number;
}

/** memcached's general statistics, with this node's figures where it has them. */
function memcachedStats(stats: ResultOf['STATS'], figures: StatsFigures): [string, string][] {
  const of = new Map(stats);
  const c = figures.counters;
  const n = (value: number): string => String(value);
  return [
    ['pid', n(figures.pid)],
    ['uptime', of.get('uptime_seconds') ?? '0'],
    ['time', n(Math.floor(figures.nowMs() / 1000))],
    ['version', figures.version],
    ['pointer_size', '64'],
    ['curr_connections', of.get('active_connections') ?? '0'],
    ['total_connections', of.get('total_connections') ?? '0'],
    ['cmd_get', n(c.cmdGet)],
    ['cmd_set', n(c.cmdSet)],
    ['cmd_flush', n(c.cmdFlush)],
    ['cmd_touch', n(c.cmdTouch)],
    ['get_hits', n(c.getHits)],
    ['get_misses', n(c.getMisses)],
    ['delete_misses', n(c.deleteMisses)],
    ['delete_hits', n(c.deleteHits)],
    ['incr_misses', n(c.incrMisses)],
    ['incr_hits', n(c.incrHits)],
    ['decr_misses', n(c.decrMisses)],
    ['decr_hits', n(c.decrHits)],
    ['cas_misses', n(c.casMisses)],
    ['cas_hits', n(c.casHits)],
    ['cas_badval', n(c.casBadval)],
    ['touch_hits', n(c.touchHits)],
    ['touch_misses', n(c.touchMisses)],
    ['threads', '1'],
    ['item_size_max', n(figures.maxValueBytes)],
    ['curr_items', of.get('keys') ?? '0'],
    ['bytes', of.get('data_bytes') ?? '0'],
  ];
}
