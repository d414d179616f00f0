/**
 * The `merklekv` command. This file only parses arguments: each subcommand calls a unit of
 * `#operator` (or the node's own bootstrap for `start`, whose flags are `#config`'s).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { usage } from '#config';
import { backupNode, fetchStatus, formatStatus, restoreBackup, runCli, TextConnection, verifyDataDir } from '#operator';
import { NODE_VERSION } from '../../shared/src/version.js';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 7379;
const DEFAULT_HTTP_PORT = 8080;

function integer(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}-${max}`);
    return n;
  };
}

const port = integer(1, 65535);
const hostOption = (): Option => new Option('-h, --host <host>', 'node address').default(DEFAULT_HOST);
const portOption = (): Option => new Option('-p, --port <port>', 'MerkleKV text protocol port').default(DEFAULT_PORT).argParser(port);
const httpPortOption = (): Option => new Option('--http-port <port>', 'HTTP port').default(DEFAULT_HTTP_PORT).argParser(port);
/** Progress goes to stderr: a terminal gets a bar, anything else plain lines. */
const progressSink = process.stderr;

/** Runs an action; a failure prints one line and sets exit code 1. */
function act<A extends unknown[]>(action: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      const code = await action(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.stderr.write(`merklekv: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  };
}

const program = new Command('merklekv')
  .description('MerkleKV: run a node, talk to it, watch its cluster, back it up')
  .version(NODE_VERSION, '-V, --version')
  .enablePositionalOptions();

program
  .command('start')
  .description('run a node (its flags: merklekv start --help)')
  .argument('[flags...]', 'node flags, as dist/apps/node/src/main.js takes them')
  .helpOption(false)
  .allowUnknownOption()
  .passThroughOptions()
  .addHelpText('after', () => `\n${usage()}`)
  // Loaded on demand: the node (Nest, NATS, telemetry) costs the other commands a second to import.
  .action(async (flags: string[]) => {
    const [{ runService }, { NODE_SERVICE }] = await Promise.all([import('../../shared/src/bootstrap.js'), import('../../node/src/node-service.js')]);
    await runService(NODE_SERVICE, flags);
  });

program
  .command('cli')
  .description('send one command, or open a prompt (history, like redis-cli); lines from a pipe are sent in turn')
  .argument('[command...]', 'a MerkleKV command, e.g. SET greeting hello')
  .helpOption('--help', 'show help')
  .addOption(hostOption())
  .addOption(portOption())
  .passThroughOptions()
  .action(
    act((command: string[], options: { host: string; port: number }) =>
      runCli({ host: options.host, port: options.port, command, input: process.stdin, output: process.stdout }),
    ),
  );

program
  .command('status')
  .description("the cluster as a node sees it: members, state, replication lag, outbox, last anti-entropy")
  .helpOption('--help', 'show help')
  .addOption(hostOption())
  .addOption(httpPortOption())
  .action(
    act(async (options: { host: string; httpPort: number }) => {
      process.stdout.write(formatStatus(await fetchStatus(options.host, options.httpPort)));
    }),
  );

program
  .command('sync')
  .description('make the node converge with another server (SYNC: anti-entropy, or SCAN and GET from a reference server)')
  .argument('<peer>', 'host:port of the other server (its MerkleKV port)')
  .helpOption('--help', 'show help')
  .addOption(hostOption())
  .addOption(portOption())
  .action(
    act(async (peer: string, options: { host: string; port: number }) => {
      const at = peer.lastIndexOf(':');
      if (at <= 0) throw new Error(`expected host:port, got ${JSON.stringify(peer)}`);
      const connection = await TextConnection.open(options.host, options.port);
      try {
        process.stderr.write(`syncing ${options.host}:${options.port} with ${peer}...\n`);
        const [reply = ''] = await connection.request(`SYNC ${peer.slice(0, at)} ${peer.slice(at + 1)}`);
        process.stdout.write(`${reply}\n`);
        return reply === 'OK' ? 0 : 1;
      } finally {
        connection.close();
      }
    }),
  );

program
  .command('backup')
  .description("online backup of a running node into an empty directory (one consistent view of its store, taken while it keeps serving)")
  .argument('<dir>', 'backup directory (created; must be empty)')
  .helpOption('--help', 'show help')
  .addOption(hostOption())
  .addOption(httpPortOption())
  .action(
    act(async (dir: string, options: { host: string; httpPort: number }) => {
      const manifest = await backupNode({ host: options.host, httpPort: options.httpPort, dir, sink: progressSink });
      process.stdout.write(`backed up ${manifest.entries} entries of node ${manifest.nodeId} (${manifest.shards} shards, taken ${manifest.takenAt}) into ${dir}\n`);
    }),
  );

program
  .command('restore')
  .description('fill an empty data directory from a backup, then check every shard root against it')
  .argument('<dir>', 'backup directory')
  .requiredOption('--data-dir <path>', 'data directory to create (must be empty); start a node on it afterwards')
  .option('--node-id <id>', "node id of the restored directory (default: the backed-up node's)")
  .action(
    act(async (dir: string, options: { dataDir: string; nodeId?: string }) => {
      const result = await restoreBackup({ dir, dataDir: options.dataDir, ...(options.nodeId ? { nodeId: options.nodeId } : {}), sink: progressSink });
      if (result.mismatched.length > 0) {
        process.stdout.write(`restored ${result.entries} entries, but shards ${result.mismatched.join(', ')} differ from the backup\n`);
        return 1;
      }
      process.stdout.write(`restored ${result.entries} entries as node ${result.nodeId} into ${options.dataDir}; all ${result.manifest.shards} shard roots match the backup\n`);
      return 0;
    }),
  );

program
  .command('verify')
  .description("recompute every shard's Merkle root from its entries and compare with the stored trees (a stopped node's data directory)")
  .option('--data-dir <path>', 'data directory', './data')
  .action(
    act(async (options: { dataDir: string }) => {
      const report = await verifyDataDir({ dataDir: options.dataDir, sink: progressSink, out: (line) => process.stdout.write(`${line}\n`) });
      return report.ok ? 0 : 1;
    }),
  );

program
  .command('bench')
  .description('load a running node with the built-in generator (closed loop) and print one JSON line')
  .helpOption('--help', 'show help')
  .addOption(hostOption())
  .addOption(portOption())
  .addOption(new Option('--op <op>', 'operation').choices(['set', 'get']).default('set'))
  .option('--connections <n>', 'connections', integer(1, 10_000), 16)
  .option('--depth <n>', 'requests in flight per connection', integer(1, 1024), 1)
  .option('--seconds <s>', 'measured seconds', integer(1, 86_400), 10)
  .option('--keys <n>', 'keyspace (keys bench:00000000...)', integer(1, 100_000_000), 10_000)
  .option('--value-bytes <n>', 'value size', integer(1, 1 << 20), 100)
  .action(
    act(async (options: { host: string; port: number; op: 'set' | 'get'; connections: number; depth: number; seconds: number; keys: number; valueBytes: number }) => {
      const { benchNode } = await import('./bench.js');
      process.stdout.write(`${await benchNode(options, progressSink)}\n`);
    }),
  );

// Output piped into `head` and the like: a closed pipe ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

await program.parseAsync(process.argv);
