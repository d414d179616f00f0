/**
 * The gateway side of a split deployment: the command layer's {@link CommandPort}, answered by
 * store-shard processes instead of a local store.
 *
 * Every request is addressed to one shard, never to a process: the gateway needs no map of which
 * process hosts what (whoever serves a shard answers on its subject), and a shard nobody serves
 * fails fast and by name. So a command is split by shard and its answers combined:
 *
 * - one key: to its shard, unchanged.
 * - MGET, EXISTS, MSET: a sub-command per shard holding some of its keys, answers put back in
 *   request order (MGET) or added up (EXISTS). MSET is atomic per shard, not across shards: two
 *   processes share no commit. A failed shard fails the MSET, whose other shards may have written.
 * - SCAN, DBSIZE, MEMORY, TRUNCATE, REPLICATE: to every shard; SCAN merges the shards'
 *   sorted pages and cuts at the limit, the counts add up, REPLICATE is enabled only if it is
 *   on every shard.
 * - HASH: the reference root needs every leaf in key order, so the shards stream pages of leaf
 *   hashes (never values) and a k-way merge feeds the streaming builder: memory stays at one page
 *   per shard whatever the keyspace size.
 * - PING, ECHO, VERSION, SHUTDOWN, CLIENT LIST, and the counters of STATS and INFO are the
 *   gateway's own; their keyspace figures come from every shard.
 */
import { compareKeys, shardOf } from '#store';
import { type CommandName, type CommandOf, type Item, type WatchEvent, type WatchFeed } from '../command.js';
import { KvError } from '../errors.js';
import { type CommandPort } from '../executor.js';
import { type CommandDeps, type Handlers, type Reply } from '../handlers.js';
import { checkValueSize } from '../limits.js';
import { mstRootsDigest } from '../mst-roots-digest.js';
import { ReferenceMerkleBuilder } from '../reference-hash.js';
import { type KeyspaceFigures, nodeCommands } from '../server.js';
import {
  decodeShardReply,
  decodeWatchEvent,
  encodeShardRequest,
  type LeafPage,
  MAX_LEAF_PAGE,
  type ShardCommand,
  type ShardFigures,
  type ShardRequest,
  type ShardResultOf,
} from './wire.js';

/** Carries one request to whichever process serves `shard`, and its reply back. */
export interface ShardChannel {
  request(shard: number, message: unknown): Promise<unknown>;
  /** Starts receiving the messages store-shard processes push to a new subject (a watch's events). */
  openInbox(onMessage: (message: unknown) => void): Promise<ShardInbox>;
}

export interface ShardInbox {
  readonly subject: string;
  close(): void;
}

/** How often a gateway renews its watches' leases (see WATCH_LEASE_MS on the store side). */
export const WATCH_RENEW_MS = 10_000;

export interface ShardRouterDeps extends Omit<CommandDeps, 'store' | 'cluster'> {
  /** The keyspace's shard count: equal to every store-shard process's. */
  readonly shards: number;
  readonly channel: ShardChannel;
}

export class ShardRouter implements CommandPort {
  readonly #deps: ShardRouterDeps;
  readonly #handlers: Handlers<CommandName>;

  constructor(deps: ShardRouterDeps) {
    this.#deps = deps;
    const { limits } = deps;
    const keyed = (command: ShardCommand & { key: string }): Promise<ShardResultOf['command']> =>
      this.#command(shardOf(command.key, deps.shards), command);
    const sized = (command: ShardCommand & { key: string; value: Uint8Array }): Promise<ShardResultOf['command']> => {
      checkValueSize(limits, command.value);
      return keyed(command);
    };
    this.#handlers = {
      ...nodeCommands(deps, () => this.#keyspaceFigures()),
      GET: (command) => keyed(command) as Reply<'GET'>,
      SET: (command) => sized(command).then(() => undefined),
      DEL: (command) => keyed(command) as Reply<'DEL'>,
      INCR: (command) => keyed(command) as Reply<'INCR'>,
      APPEND: (command) => sized(command) as Reply<'APPEND'>,
      PREPEND: (command) => sized(command) as Reply<'PREPEND'>,
      MGET: ({ keys }) => this.#perKey('MGET', keys) as Promise<(Uint8Array | undefined)[]>,
      STORE: (command) => sized(command) as Reply<'STORE'>,
      REMOVE: (command) => keyed(command) as Reply<'REMOVE'>,
      TOUCH: (command) => keyed(command) as Reply<'TOUCH'>,
      ADJUST: (command) => keyed(command) as Reply<'ADJUST'>,
      LOOKUP: ({ keys }) => this.#perKey('LOOKUP', keys) as Promise<(Item | undefined)[]>,
      MSET: async ({ pairs }) => {
        for (const [, value] of pairs) checkValueSize(limits, value);
        const groups = this.#byShard(pairs.map(([key]) => key));
        await Promise.all([...groups].map(([shard, positions]) => this.#command(shard, { name: 'MSET', pairs: positions.map((i) => pairs[i]!) })));
      },
      EXISTS: async ({ keys }) => {
        const counts = await Promise.all(
          [...this.#byShard(keys)].map(([shard, positions]) => this.#command(shard, { name: 'EXISTS', keys: positions.map((i) => keys[i]!) })),
        );
        return sum(counts as number[]);
      },
      SCAN: async (command) => {
        const pages = (await this.#everyShard({ op: 'command', command })) as (readonly string[])[];
        const keys = pages.flat().sort(compareKeys);
        return command.limit !== undefined && command.limit < keys.length ? keys.slice(0, command.limit) : keys;
      },
      DBSIZE: async (command) => sum((await this.#everyShard({ op: 'command', command })) as number[]),
      MEMORY: async (command) => sum((await this.#everyShard({ op: 'command', command })) as number[]),
      TRUNCATE: async (command) => {
        await this.#everyShard({ op: 'command', command });
      },
      REPLICATE: async (command) => {
        const states = (await this.#everyShard({ op: 'command', command })) as { enabled: boolean; nodes: number }[];
        return { enabled: states.every((s) => s.enabled), nodes: Math.max(...states.map((s) => s.nodes)) };
      },
      SYNC: () => {
        throw new KvError('UNAVAILABLE', 'SYNC runs on full replicas (all-in-one nodes), not through a gateway of a split deployment');
      },
      HASH: ({ pattern }) => this.#hash(pattern === undefined || pattern === '*' ? '' : pattern),
      AE: () => {
        throw new KvError('UNAVAILABLE', 'anti-entropy sessions are served by full replicas (all-in-one nodes), not by a gateway of a split deployment');
      },
      WATCH: ({ prefix }) => this.#watch(prefix),
    };
  }

  execute<N extends CommandName>(command: CommandOf<N>): Reply<N> {
    this.#deps.stats.count(command.name);
    const handler = this.#handlers[command.name] as (command: CommandOf<N>) => Reply<N>;
    return handler(command);
  }

  /** A multi-key read split by shard, the answers put back in request order. */
  async #perKey(name: 'MGET' | 'LOOKUP', keys: readonly string[]): Promise<unknown[]> {
    const values = new Array<unknown>(keys.length);
    await Promise.all(
      [...this.#byShard(keys)].map(async ([shard, positions]) => {
        const found = (await this.#command(shard, { name, keys: positions.map((i) => keys[i]!) })) as readonly unknown[];
        positions.forEach((position, i) => (values[position] = found[i]));
      }),
    );
    return values;
  }

  /** Every shard's figures, in shard order. */
  figures(): Promise<ShardFigures[]> {
    return this.#everyShard({ op: 'figures' }) as Promise<ShardFigures[]>;
  }

  async #keyspaceFigures(): Promise<KeyspaceFigures> {
    const shards = await this.figures();
    return {
      keys: sum(shards.map((s) => s.keys)),
      dataBytes: sum(shards.map((s) => s.dataBytes)),
      info: [
        ['shards', String(this.#deps.shards)],
        ['mst_roots_digest', mstRootsDigest(shards.map((s) => s.root))],
      ],
    };
  }

  #command(shard: number, command: ShardCommand): Promise<ShardResultOf['command']> {
    return this.#request(shard, { op: 'command', command });
  }

  async #request<R extends ShardRequest>(shard: number, request: R): Promise<ShardResultOf[R['op']]> {
    let reply: unknown;
    try {
      reply = await this.#deps.channel.request(shard, encodeShardRequest(request));
    } catch (err) {
      throw new KvError('UNAVAILABLE', `shard ${shard} did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return decodeShardReply(request, reply);
  }

  #everyShard<R extends ShardRequest>(request: R): Promise<ShardResultOf[R['op']][]> {
    return Promise.all(Array.from({ length: this.#deps.shards }, (_, shard) => this.#request(shard, request)));
  }

  /** Indices of `keys` grouped by shard. */
  #byShard(keys: readonly string[]): Map<number, number[]> {
    const groups = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const shard = shardOf(key, this.#deps.shards);
      const group = groups.get(shard);
      if (group) group.push(i);
      else groups.set(shard, [i]);
    });
    return groups;
  }

  /**
   * Every shard pushes its changes under `prefix` to one inbox of this gateway. The feed is
   * returned once every shard has registered, so nothing committed after WATCHING is missed;
   * events that arrive before the adapter starts the feed wait for it. Each shard reports its own
   * truncation: consecutive TRUNCATED events are reported once.
   */
  async #watch(prefix: string): Promise<WatchFeed> {
    let listener: ((event: WatchEvent) => void) | undefined;
    const early: WatchEvent[] = [];
    let lastTruncated = false;
    const inbox = await this.#deps.channel.openInbox((message) => {
      const event = decodeWatchEvent(message);
      if (!event || (event.kind === 'truncated' && lastTruncated)) return;
      lastTruncated = event.kind === 'truncated';
      if (listener) listener(event);
      else early.push(event);
    });
    const register = (): Promise<unknown> => this.#everyShard({ op: 'watch', prefix, to: inbox.subject });
    const unregister = (): void => {
      inbox.close();
      this.#everyShard({ op: 'unwatch', to: inbox.subject }).catch(() => undefined);
    };
    try {
      await register();
    } catch (err) {
      unregister();
      throw err;
    }
    // A store-shard process that restarted learns of the watch again at the next renewal.
    const renewal = setInterval(() => void register().catch(() => undefined), WATCH_RENEW_MS);
    renewal.unref();
    return {
      prefix,
      start: (onEvent) => {
        listener = onEvent;
        for (const event of early.splice(0)) onEvent(event);
      },
      stop: () => {
        clearInterval(renewal);
        listener = undefined;
        unregister();
      },
    };
  }

  async #hash(prefix: string): Promise<string> {
    const cursors = Array.from({ length: this.#deps.shards }, (_, shard) => new LeafCursor((after) => this.#request(shard, { op: 'leaves', prefix, limit: MAX_LEAF_PAGE, ...(after === undefined ? {} : { after }) })));
    await Promise.all(cursors.map((c) => c.fill()));
    const builder = new ReferenceMerkleBuilder();
    for (;;) {
      let next: LeafCursor | undefined;
      for (const cursor of cursors) {
        const head = cursor.head;
        if (head && (!next || compareKeys(head[0], next.head![0]) < 0)) next = cursor;
      }
      if (!next) return builder.root();
      const [key, leaf] = next.head!;
      builder.addLeafHash(Buffer.from(key, 'utf8'), leaf);
      await next.advance();
    }
  }
}

/** One shard's leaves, a page at a time. */
class LeafCursor {
  #page: LeafPage = { leaves: [], more: true };
  #index = 0;

  constructor(private readonly fetchAfter: (after: string | undefined) => Promise<LeafPage>) {}

  get head(): readonly [string, Uint8Array] | undefined {
    return this.#page.leaves[this.#index];
  }

  async fill(after?: string): Promise<void> {
    this.#page = await this.fetchAfter(after);
    this.#index = 0;
  }

  async advance(): Promise<void> {
    const last = this.#page.leaves[this.#index]![0];
    this.#index++;
    if (this.#index >= this.#page.leaves.length && this.#page.more) await this.fill(last);
  }
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
