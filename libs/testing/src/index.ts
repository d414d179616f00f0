/**
 * The process harness for integration tests and benchmarks: real servers on ephemeral ports
 * with temp data dirs, their output kept in a bounded buffer for failure messages, everything
 * disposable with `await using`. Pure TypeScript over node:child_process and node:net.
 */
export { HarnessError, isHarnessError, type HarnessErrorCode } from './errors.js';
export { LineSplitter, LogBuffer } from './log-buffer.js';
export { startMemcached, type MemcachedServer, type StartMemcachedOptions } from './memcached.js';
export {
  startNatsCluster,
  startNatsServer,
  type NatsCluster,
  type NatsServer,
  type StartNatsClusterOptions,
  type StartNatsOptions,
} from './nats.js';
export { canConnect, freePort, freePorts, makeTempDir, removeDir, waitForTcp } from './net.js';
export {
  parseReadyLine,
  repoRoot,
  startNode,
  startStoreShard,
  type NodePorts,
  type NodeProcess,
  type ServiceProcess,
  type StartNodeOptions,
  type StoreShardProcess,
} from './node.js';
export { eventually } from './poll.js';
export { isProcessAlive, ManagedProcess, type OutputStream, type ProcessExit, type SpawnOptions, type WaitForLineOptions } from './process.js';
export { type CertFiles, makeTestCa, pem, type TestCa } from './pki.js';
export { TextClient, type TextClientOptions } from './text-client.js';
