import { existsSync } from 'node:fs';
import { RocksDbEngine, type ShardVerdict, type VerifyReport, verifyStore } from '#store';
import { Progress, type ProgressSink } from './progress.js';

/** One line per shard that failed, or none. */
export function describeVerdict(verdict: ShardVerdict): string {
  if (verdict.ok) return `shard ${verdict.shard}: ok (${verdict.entries} entries)`;
  const why = [
    ...(verdict.treeError ? [`stored tree unreadable: ${verdict.treeError}`] : []),
    ...(verdict.corrupt.length > 0 ? [`${verdict.corrupt.length} records do not decode (${verdict.corrupt.slice(0, 3).join(', ')})`] : []),
    ...(verdict.storedRoot !== verdict.computedRoot && !verdict.treeError
      ? [`stored root ${verdict.storedRoot.slice(0, 16)}… but its ${verdict.entries} entries give ${verdict.computedRoot.slice(0, 16)}…`]
      : []),
  ];
  return `shard ${verdict.shard}: DIFFERS: ${why.join('; ')}`;
}

/**
 * `merklekv verify`: every shard's root recomputed from its entries and compared with the stored
 * tree, on the data directory of a stopped node (RocksDB refuses a directory a node holds open).
 * Writes one line per shard that differs and a summary to `out`.
 */
export async function verifyDataDir(options: { dataDir: string; sink: ProgressSink; out: (line: string) => void }): Promise<VerifyReport> {
  if (!existsSync(options.dataDir)) throw new Error(`no data directory at ${options.dataDir}`);
  const engine = new RocksDbEngine(options.dataDir);
  await engine.open();
  try {
    const progress = new Progress(options.sink, { label: 'verify', unit: 'shards' });
    const report = verifyStore(engine, (verdict) => {
      if (!verdict.ok) options.out(describeVerdict(verdict));
      progress.advance();
    });
    progress.finish();
    const failed = report.verdicts.filter((v) => !v.ok).map((v) => v.shard);
    const entries = report.verdicts.reduce((sum, v) => sum + v.entries, 0);
    options.out(
      failed.length === 0
        ? `ok: ${report.shards} shards of node ${report.nodeId} match their entries (${entries} entries)`
        : `FAILED: shard${failed.length > 1 ? 's' : ''} ${failed.join(', ')} of ${report.shards} differ${failed.length > 1 ? '' : 's'} from ${failed.length > 1 ? 'their' : 'its'} entries`,
    );
    return report;
  } finally {
    await engine.close();
  }
}
