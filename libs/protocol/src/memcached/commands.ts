/**
 * memcached requests on the one command layer: the command each request runs, and the outcome its
 * result comes to. This is the only place that knows both vocabularies; the wire forms only parse
 * and frame, the command layer knows nothing of memcached.
 */
import { type Command, type KvErrorCode, type ResultOf } from '#commands';

import { type MemcachedFailure, type MemcachedItem, type MemcachedOutcome, type MemcachedRequest } from './request.js';

/** A request the command layer cannot run yet: its failure instead of a command. */
export class Unsupported {
  constructor(readonly failure: MemcachedFailure) {}
}

const unsupported = (what: string): Unsupported => new Unsupported({ kind: 'server', message: `${what} is not supported by this node` });

/** The command `request` runs, or why it cannot. `noop`, `quit` and delayed flushes never get here. */
export function commandOf(request: MemcachedRequest): Command | Unsupported {
  switch (request.op) {
    case 'get':
      if (request.touch !== undefined) return unsupported('gat');
      return request.keys.length === 1 ? { name: 'GET', key: request.keys[0]! } : { name: 'MGET', keys: request.keys };
    case 'store':
      if (request.mode !== 'set') return unsupported(request.mode);
      if (request.flags !== 0 || request.exptime !== 0) return unsupported('flags and exptime');
      return { name: 'SET', key: request.key, value: request.value };
    case 'delete':
      if (request.cas !== 0n) return unsupported('delete with cas');
      return { name: 'DEL', key: request.key };
    case 'incr':
      return unsupported('incr and decr');
    case 'touch':
      return unsupported('touch');
    case 'flush':
      return { name: 'TRUNCATE' };
    case 'version':
      return { name: 'VERSION' };
    case 'stats':
      return { name: 'STATS' };
    case 'debug':
      return { name: 'GET', key: request.key };
    case 'noop':
    case 'quit':
      throw new Error(`${request.op} runs no command`);
  }
}

const itemOf = (value: Uint8Array | undefined): MemcachedItem | undefined => (value === undefined ? undefined : { value, flags: 0, cas: 0n, ttl: -1 });

/** What the result of `commandOf(request)` means for the request. */
export function outcomeOf(request: MemcachedRequest, command: Command, result: unknown, figures: StatsFigures): MemcachedOutcome {
  switch (command.name) {
    case 'GET': {
      const item = itemOf(result as ResultOf['GET']);
      if (request.op === 'debug') return { op: 'debug', item };
      figures.counters.countGets(item === undefined ? 0 : 1, 1);
      return { op: 'get', items: [item] };
    }
    case 'MGET': {
      const items = (result as ResultOf['MGET']).map(itemOf);
      figures.counters.countGets(items.filter((i) => i !== undefined).length, items.length);
      return { op: 'get', items };
    }
    case 'SET':
      figures.counters.cmdSet++;
      return { op: 'store', status: 'stored', cas: 0n };
    case 'DEL': {
      const deleted = result as ResultOf['DEL'];
      if (deleted) figures.counters.deleteHits++;
      else figures.counters.deleteMisses++;
      return { op: 'delete', status: deleted ? 'deleted' : 'not_found' };
    }
    case 'TRUNCATE':
      figures.counters.cmdFlush++;
      return { op: 'flush' };
    case 'VERSION':
      return { op: 'version', version: result as string };
    case 'STATS':
      return { op: 'stats', stats: memcachedStats(result as ResultOf['STATS'], figures) };
    default:
      throw new Error(`no memcached outcome for ${command.name}`);
  }
}

/** How a command layer error reads on memcached. */
export function failureOf(code: KvErrorCode | undefined, message: string): MemcachedFailure {
  switch (code) {
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

  countGets(hits: number, keys: number): void {
    this.cmdGet += keys;
    this.getHits += hits;
    this.getMisses += keys - hits;
  }
}

/** What a `stats` reply is made of besides the command layer's STATS. */
export interface StatsFigures {
  readonly counters: MemcachedCounters;
  readonly pid: number;
  readonly version: string;
  readonly maxValueBytes: number;
  /** Seconds since the epoch. */
  now(): number;
}

/** memcached's general statistics, with this node's figures where it has them. */
function memcachedStats(stats: ResultOf['STATS'], figures: StatsFigures): [string, string][] {
  const of = new Map(stats);
  const c = figures.counters;
  const n = (value: number): string => String(value);
  return [
    ['pid', n(figures.pid)],
    ['uptime', of.get('uptime_seconds') ?? '0'],
    ['time', n(figures.now())],
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
