/**
 * The operator's tools behind the `merklekv` command (apps/cli parses its arguments and calls
 * these): a text-protocol console, the cluster status table, online backup and restore, data
 * directory verification, and a progress display for long work. Framework-free; they reach a
 * node as any client does (TCP, HTTP) or open a stopped node's data directory.
 */
export { type BackupManifest, backupNode, BACKUP_MANIFEST_FILE, BACKUP_STREAM_FILE, type RestoreResult, restoreBackup } from './backup.js';
export { duration, Progress, type ProgressOptions, type ProgressSink } from './progress.js';
export { type CliOptions, runCli } from './repl.js';
export { type ClusterStatus, fetchStatus, formatStatus, lagByPeer, type StatusRow, statusRows } from './status.js';
export { replyFraming, TextConnection } from './text-connection.js';
export { describeVerdict, verifyDataDir } from './verify.js';
export { type MetricsReading, type NodeSample, readMetrics, sampleBetween } from './node-sample.js';
