import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { decodeEntry } from '#crdt';
import { toHex } from '#mst';
import { BackupDecoder, type BackupFrame, type BackupHeader, BackupRoots, RocksDbEngine, Store } from '#store';
import { Progress, type ProgressSink } from './progress.js';

/** The backup's frames as the node streamed them. */
export const BACKUP_STREAM_FILE = 'entries.mkvb';
export const BACKUP_MANIFEST_FILE = 'manifest.json';

/** `manifest.json` of a backup directory. */
export interface BackupManifest {
  readonly format: 1;
  readonly nodeId: string;
  readonly shards: number;
  /** When the node took its view (ISO time). */
  readonly takenAt: string;
  /** Records in the stream, tombstones included. */
  readonly entries: number;
  /** Each shard's Merkle Search Tree root over the backup's entries (hex): a restore must reach them. */
  readonly roots: readonly string[];
  readonly source: string;
}

function requireEmptyDir(dir: string, what: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${what} ${dir} is not empty`);
  mkdirSync(dir, { recursive: true });
}

/**
 * `merklekv backup <dir>`: streams a running node's online backup (`GET /v1/admin/backup`: one
 * consistent view of its store, taken while it keeps writing) into `dir`, and writes a manifest
 * with each shard's root over what was received. Resolves with the manifest.
 */
export async function backupNode(options: { host: string; httpPort: number; dir: string; sink: ProgressSink }): Promise<BackupManifest> {
  requireEmptyDir(options.dir, 'backup directory');
  const source = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.httpPort}/v1/admin/backup`;
  const response = await fetch(source).catch((err: Error) => {
    throw new Error(`cannot reach ${source}: ${err.cause instanceof Error ? err.cause.message : err.message}`, { cause: err });
  });
  if (!response.ok || !response.body) throw new Error(`${source} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);

  const file = createWriteStream(join(options.dir, BACKUP_STREAM_FILE));
  const decoder = new BackupDecoder();
  const roots = new BackupRoots();
  let header: BackupHeader | undefined;
  let entries = -1;
  let progress: Progress | undefined;
  for await (const chunk of response.body) {
    if (!file.write(chunk)) await once(file, 'drain');
    for (const frame of decoder.push(chunk)) {
      roots.add(frame);
      if (frame.kind === 'header') {
        header = frame.header;
        progress = new Progress(options.sink, { label: `backup of ${header.nodeId}`, unit: 'entries', total: header.liveKeys });
      } else if (frame.kind === 'entry') progress?.advance();
      else if (frame.kind === 'end') entries = frame.entries;
    }
  }
  file.end();
  await once(file, 'finish');
  decoder.finish();
  progress?.finish();
  if (!header || entries !== progress?.done) throw new Error(`the backup stream is inconsistent: ${entries} entries announced, ${progress?.done ?? 0} received`);
  const manifest: BackupManifest = {
    format: 1,
    nodeId: header.nodeId,
    shards: header.shards,
    takenAt: new Date(header.takenAt).toISOString(),
    entries,
    roots: roots.roots(header.shards),
    source,
  };
  writeFileSync(join(options.dir, BACKUP_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export interface RestoreResult {
  readonly manifest: BackupManifest;
  readonly nodeId: string;
  readonly entries: number;
  /** Shards whose restored root differs from the backup's (none when the restore is faithful). */
  readonly mismatched: readonly number[];
}

/** Merges in flight at once: enough to fill the store's commit groups, bounded in memory. */
const RESTORE_WINDOW = 4096;

/**
 * `merklekv restore <dir> --data-dir <path>`: fills an empty data directory from a backup, merging
 * every entry as replication would (stamps, counters and tombstones kept), then checks each
 * shard's root against the manifest. The node id is the backup's unless `nodeId` is given.
 */
export async function restoreBackup(options: { dir: string; dataDir: string; nodeId?: string; sink: ProgressSink }): Promise<RestoreResult> {
  const manifest = JSON.parse(readFileSync(join(options.dir, BACKUP_MANIFEST_FILE), 'utf8')) as BackupManifest;
  if (manifest.format !== 1) throw new Error(`backup format ${String(manifest.format)}: this release restores format 1`);
  requireEmptyDir(options.dataDir, 'data directory');
  const nodeId = options.nodeId ?? manifest.nodeId;
  const store = await Store.open({ engine: new RocksDbEngine(options.dataDir), shards: manifest.shards, nodeId, outbox: false });
  const progress = new Progress(options.sink, { label: `restore of ${manifest.nodeId}`, unit: 'entries', total: manifest.entries });
  try {
    const decoder = new BackupDecoder();
    let inFlight: Promise<unknown>[] = [];
    const apply = (frame: BackupFrame): void => {
      if (frame.kind === 'entry') {
        progress.advance();
        let entry;
        try {
          entry = decodeEntry(frame.record);
        } catch {
          return;
        }
        inFlight.push(store.merge(frame.key, entry));
      } else if (frame.kind === 'floor') inFlight.push(store.applyTruncate(frame.shard, frame.floor));
    };
    for await (const chunk of createReadStream(join(options.dir, BACKUP_STREAM_FILE))) {
      for (const frame of decoder.push(chunk as Buffer)) apply(frame);
      if (inFlight.length >= RESTORE_WINDOW) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    decoder.finish();
    await Promise.all(inFlight);
    progress.finish();
    const mismatched = manifest.roots.flatMap((root, shard) => (toHex(store.shardRoot(shard)) === root ? [] : [shard]));
    return { manifest, nodeId, entries: progress.done, mismatched };
  } finally {
    await store.close();
  }
}
