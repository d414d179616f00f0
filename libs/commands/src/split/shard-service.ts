import { entryBytes } from '#crdt';
import { compareKeys, type Keyspace, type Store } from '#store';
import { type CommandOf } from '../command.js';
import { KvError } from '../errors.js';
import { type CommandPort } from '../executor.js';
import { referenceLeafHash } from '../reference-hash.js';
import { decodeShardRequest, encodeShardReply, type LeafPage, type ShardCommand, type ShardFigures, type ShardRequest } from './wire.js';

/**
 * The store-shard side of a split deployment: answers {@link ShardRequest}s for the shards this
 * process hosts, each through the same command layer an all-in-one node runs, over a keyspace
 * scoped to that one shard (so DBSIZE, SCAN and TRUNCATE mean "of this shard").
 */
export class ShardService {
  readonly #store: Store;
  readonly #byShard = new Map<number, { readonly keyspace: Keyspace; readonly commands: CommandPort }>();

  constructor(store: Store, hosted: readonly number[], commandsFor: (keyspace: Keyspace) => CommandPort) {
    this.#store = store;
    for (const shard of hosted) {
      const keyspace = store.scope([shard]);
      this.#byShard.set(shard, { keyspace, commands: commandsFor(keyspace) });
    }
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

  #answer(shard: number, hosted: { keyspace: Keyspace; commands: CommandPort }, request: ShardRequest): unknown {
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
    }
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

function keysOf(command: ShardCommand): readonly string[] {
  if ('key' in command) return [command.key];
  if ('keys' in command) return command.keys;
  if ('pairs' in command) return command.pairs.map(([key]) => key);
  return [];
}

function leafPage(keyspace: Keyspace, prefix: string, after: string | undefined, limit: number): LeafPage {
  const entries = keyspace.liveEntries(prefix);
  let start = 0;
  if (after !== undefined) while (start < entries.length && compareKeys(entries[start]![0], after) <= 0) start++;
  const page = entries.slice(start, start + limit);
  return {
    leaves: page.map(([key, entry]) => [key, referenceLeafHash(Buffer.from(key, 'utf8'), entryBytes(entry)!)] as const),
    more: start + limit < entries.length,
  };
}
