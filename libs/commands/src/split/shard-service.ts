import { entryBytes } from '#crdt';
import { type Keyspace, type ShardHost } from '#store';
import { type CommandOf, type WatchFeed } from '../command.js';
import { KvError } from '../errors.js';
import { type CommandPort } from '../executor.js';
import { referenceLeafHash } from '../reference-hash.js';
import { decodeShardRequest, encodeShardReply, encodeWatchEvent, type LeafPage, type ShardCommand, type ShardFigures, type ShardRequest } from './wire.js';

/** A gateway renews its watches well within this; one it stopped renewing (it died) ends here. */
export const WATCH_LEASE_MS = 30_000;

export interface ShardServiceOptions {
  readonly store: ShardHost;
  /** The shards this process serves. */
  readonly hosted: readonly number[];
  /** The command layer over one shard's keyspace. */
  readonly commandsFor: (keyspace: Keyspace) => CommandPort;
  /**
   * Pushes a watch event to a gateway, and the subjects it may be pushed to: a request cannot
   * make this process publish anywhere else (on the replication stream, say).
   */
  readonly watches?: { readonly publish: (subject: string, message: unknown) => void; readonly subjectPrefix: string };
}

interface Hosted {
  readonly keyspace: Keyspace;
  readonly commands: CommandPort;
  /** Running watches by the subject they push to. */
  readonly watches: Map<string, { readonly feed: WatchFeed; lease: NodeJS.Timeout }>;
}

/**
 * The store-shard side of a split deployment: answers {@link ShardRequest}s for the shards this
 * process hosts, each through the same command layer an all-in-one node runs, over a keyspace
 * scoped to that one shard (so DBSIZE, SCAN and TRUNCATE mean "of this shard").
 */
export class ShardService {
  readonly #store: ShardHost;
  readonly #watches: ShardServiceOptions['watches'];
  readonly #byShard = new Map<number, Hosted>();

  constructor({ store, hosted, commandsFor, watches }: ShardServiceOptions) {
    this.#store = store;
    this.#watches = watches;
    for (const shard of hosted) {
      const keyspace = store.scope([shard]);
      this.#byShard.set(shard, { keyspace, commands: commandsFor(keyspace), watches: new Map() });
    }
  }

  /** Ends every watch (the process is stopping). */
  close(): void {
    for (const hosted of this.#byShard.values()) for (const to of [...hosted.watches.keys()]) unwatch(hosted, to);
  }

  /** The hosted shards, ascending. */
  get shards(): number[] {
    return [...this.#byShard.keys()].sort((a, b) => a - b);
  }

  /** Answers one request for `shard`; never throws: errors travel back as error replies. */
  async handle(shard: number, message: unknown): Promise<unknown> {
    try {
      const request = decodeShardRequest(message);
      const hosted = this.#byShard.get(shard);
      if (!hosted) throw new KvError('UNAVAILABLE', `shard ${shard} is not hosted by store-shard process ${this.#store.nodeId}`);
      return encodeShardReply({ result: await this.#answer(shard, hosted, request) });
    } catch (error) {
      return encodeShardReply({ error });
    }
  }

  #answer(shard: number, hosted: Hosted, request: ShardRequest): unknown {
    switch (request.op) {
      case 'command':
        this.#checkKeys(shard, request.command);
        return hosted.commands.execute(request.command as CommandOf<ShardCommand['name']>);
      case 'figures': {
        const figures: ShardFigures = {
          node: this.#store.nodeId,
          keys: hosted.keyspace.liveKeys,
          dataBytes: hosted.keyspace.dataBytes,
          root: this.#store.shardRoot(shard),
        };
        return figures;
      }
      case 'leaves':
        return leafPage(hosted.keyspace, request.prefix, request.after, request.limit);
      case 'watch':
        return this.#watch(hosted, request.prefix, request.to);
      case 'unwatch':
        unwatch(hosted, request.to);
        return undefined;
    }
  }

  async #watch(hosted: Hosted, prefix: string, to: string): Promise<void> {
    const watches = this.#watches;
    if (!watches) throw new KvError('UNAVAILABLE', 'this store-shard process does not serve watches');
    if (!to.startsWith(watches.subjectPrefix) || to.length === watches.subjectPrefix.length || /[\s*>]/.test(to)) {
      throw new KvError('BAD_REQUEST', `invalid shard message: watch subject must be under ${watches.subjectPrefix}`);
    }
    const running = hosted.watches.get(to);
    if (running) {
      running.lease.refresh();
      return;
    }
    const feed = (await hosted.commands.execute({ name: 'WATCH', prefix })) as WatchFeed;
    const lease = setTimeout(() => unwatch(hosted, to), WATCH_LEASE_MS);
    lease.unref();
    hosted.watches.set(to, { feed, lease });
    feed.start((event) => watches.publish(to, encodeWatchEvent(event)));
  }

  /** A key routed to the wrong shard means gateway and store-shard disagree on `shards`. */
  #checkKeys(shard: number, command: ShardCommand): void {
    for (const key of keysOf(command)) {
      const owner = this.#store.shardOf(key);
      if (owner !== shard) {
        throw new KvError(
          'BAD_REQUEST',
          `key '${key}' belongs to shard ${owner}, not ${shard}: do the gateway and the store-shard processes agree on shards (${this.#store.shardCount} here)?`,
        );
      }
    }
  }
}

function unwatch(hosted: Hosted, to: string): void {
  const running = hosted.watches.get(to);
  if (!running) return;
  clearTimeout(running.lease);
  running.feed.stop();
  hosted.watches.delete(to);
}

function keysOf(command: ShardCommand): readonly string[] {
  if ('key' in command) return [command.key];
  if ('keys' in command) return command.keys;
  if ('pairs' in command) return command.pairs.map(([key]) => key);
  return [];
}

function leafPage(keyspace: Keyspace, prefix: string, after: string | undefined, limit: number): LeafPage {
  const leaves: [string, Uint8Array][] = [];
  let more = false;
  for (const [key, entry] of keyspace.liveEntries(prefix, after)) {
    if (leaves.length === limit) {
      more = true;
      break;
    }
    leaves.push([key, referenceLeafHash(Buffer.from(key, 'utf8'), entryBytes(entry)!)]);
  }
  return { leaves, more };
}
