/**
 * `merklekv verify`: checks a data directory's stored Merkle Search Trees against its stored
 * entries, shard by shard, without writing anything.
 *
 * A node trusts its stored trees at open (it reads no entry), so a tree that no longer matches
 * the entries (a record lost, altered or damaged on disk) would make the node announce a wrong
 * root until its background scrub or a peer's anti-entropy catches the drift. Verify makes that
 * check on demand, on a stopped node's directory: each shard's root is recomputed from its entries
 * (a tree built from scratch, as the node's upgrade pass builds one) and compared with the root
 * the stored tree gives once the keys it had not caught up with (their markers; none after a
 * clean stop) are applied to it, exactly as the node would at its next open.
 */
import { decodeEntry, entryDigest, type Entry, type Stamp, ZERO_STAMP } from '#crdt';
import { isMstError, MerkleSearchTree, toHex } from '#mst';
import { type StorageEngine } from './engine.js';
import { StoreError } from './errors.js';
import { decodeTreeRoot, FORMAT, metaFloor, metaTreeRoot, storedIdentity } from './metadata.js';
import { survives } from './shard.js';
import { decodeStamp } from './stamp-codec.js';

export interface ShardVerdict {
  readonly shard: number;
  /** Entries compared (tombstones included). */
  readonly entries: number;
  /** Keys the stored tree had not caught up with, applied before comparing. */
  readonly pending: number;
  /** Root of the stored tree, hex (empty when the tree cannot be read). */
  readonly storedRoot: string;
  /** Root recomputed from the entries, hex. */
  readonly computedRoot: string;
  /** Keys whose stored record does not decode. */
  readonly corrupt: readonly string[];
  /** Why the stored tree could not be read, if it could not. */
  readonly treeError?: string;
  readonly ok: boolean;
}

export interface VerifyReport {
  readonly nodeId: string;
  readonly shards: number;
  readonly verdicts: readonly ShardVerdict[];
  readonly ok: boolean;
}

/**
 * Verifies every shard of an opened engine (the caller opens and closes it). `onShard` hears each
 * verdict as it is reached, for progress. Throws StoreError `NOT_A_STORE` when the engine holds
 * no store, `FORMAT` for a directory of another format.
 */
export function verifyStore(engine: StorageEngine, onShard?: (verdict: ShardVerdict) => void): VerifyReport {
  const identity = storedIdentity(engine);
  if (!identity) throw new StoreError('NOT_A_STORE', 'the directory holds no MerkleKV store (no node id and shard count)');
  if (identity.format !== FORMAT) {
    throw new StoreError('FORMAT', `the directory is in storage format ${identity.format}, this release verifies ${FORMAT} (start a node on it once to upgrade it)`);
  }
  const verdicts: ShardVerdict[] = [];
  for (let shard = 0; shard < identity.shards; shard++) {
    const verdict = verifyShard(engine, shard);
    verdicts.push(verdict);
    onShard?.(verdict);
  }
  return { nodeId: identity.nodeId, shards: identity.shards, verdicts, ok: verdicts.every((v) => v.ok) };
}

function verifyShard(engine: StorageEngine, shard: number): ShardVerdict {
  const floorRecord = engine.getMeta(metaFloor(shard));
  const floor: Stamp = floorRecord ? decodeStamp(floorRecord) : ZERO_STAMP;
  const corrupt: string[] = [];
  const decode = (key: string, record: Uint8Array): Entry | undefined => {
    try {
      const entry = decodeEntry(record);
      return survives(entry, floor) ? entry : undefined;
    } catch {
      corrupt.push(key);
      return undefined;
    }
  };

  const keys: Uint8Array[] = [];
  const digests: Uint8Array[] = [];
  for (const [key, record] of engine.scan(shard)) {
    const entry = decode(key, record);
    if (!entry) continue;
    keys.push(Buffer.from(key, 'utf8'));
    digests.push(entryDigest(entry));
  }
  const computedRoot = toHex(MerkleSearchTree.fromSorted(keys, digests).root());

  let pending = 0;
  let storedRoot = '';
  let treeError: string | undefined;
  try {
    const rootRecord = engine.getMeta(metaTreeRoot(shard));
    const tree = MerkleSearchTree.open({ read: (id) => engine.getNode(shard, id) }, rootRecord ? decodeTreeRoot(rootRecord) : null);
    const behind = [...engine.pendingKeys(shard)];
    const records = behind.length > 0 ? engine.getEntries(behind.map(() => shard), behind) : [];
    behind.forEach((key, i) => {
      const record = records[i];
      const entry = record === undefined ? undefined : decode(key, record);
      if (entry) tree.upsert(Buffer.from(key, 'utf8'), entryDigest(entry));
      else tree.remove(Buffer.from(key, 'utf8'));
    });
    pending = behind.length;
    storedRoot = toHex(tree.root());
  } catch (err) {
    if (!isMstError(err) && !(err instanceof StoreError)) throw err;
    treeError = err.message;
  }
  return {
    shard,
    entries: keys.length + corrupt.length,
    pending,
    storedRoot,
    computedRoot,
    corrupt,
    ...(treeError === undefined ? {} : { treeError }),
    ok: treeError === undefined && corrupt.length === 0 && storedRoot === computedRoot,
  };
}
