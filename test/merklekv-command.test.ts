import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RocksDbEngine, shardOf } from '#store';
import { eventually, makeTempDir, type NatsServer, type NodeProcess, removeDir, repoRoot, startNatsServer, startNode, TextClient } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `merklekv <args>` as a user would (the package's bin), with `input` piped to its stdin. */
function merklekv(args: readonly string[], input?: string): Promise<Run> & { started: Promise<void> } {
  const child = spawn(process.execPath, [join(repoRoot(), 'bin', 'merklekv.js'), ...args], { cwd: repoRoot(), stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.end(input ?? '');
  const started = new Promise<void>((resolve) => child.once('spawn', () => resolve()));
  const done = new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  return Object.assign(done, { started });
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

describe('merklekv cli', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await startNode({ args: ['--engine', 'rocksdb'] });
  });
  afterAll(async () => {
    await node[Symbol.asyncDispose]();
  });
  const port = (): string => String(node.ports.merklekv);

  it('sends one command given on its command line and prints the reply', async () => {
    expect(await merklekv(['cli', '-p', port(), 'SET', 'greeting', 'hello', 'world'])).toMatchObject({ code: 0, stdout: 'OK\n' });
    expect(await merklekv(['cli', '-p', port(), 'GET', 'greeting'])).toMatchObject({ code: 0, stdout: 'VALUE hello world\n' });
    const failed = await merklekv(['cli', '-p', port(), 'INC', 'greeting']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^ERROR /);
  });

  it('sends every line piped to it in turn, multi-line replies whole', async () => {
    const run = await merklekv(['cli', '-h', '127.0.0.1', '-p', port()], 'SET piped:a 1\nINC piped:n\n\nMGET piped:a piped:n piped:missing\nINFO\nSCAN piped:\nquit\nGET piped:a\n');
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out.slice(0, 6)).toEqual(['OK', 'VALUE 1', 'VALUES 2', 'piped:a 1', 'piped:n 1', 'piped:missing NOT_FOUND']);
    expect(out[6]).toBe('INFO');
    const scan = out.indexOf('KEYS 2');
    expect(out.slice(7, scan).every((line) => /^[a-z_]+:/.test(line))).toBe(true);
    // `quit` ends the session: the GET after it is never sent.
    expect(out.slice(scan)).toEqual(['KEYS 2', 'piped:a', 'piped:n']);
  });

  it('says why when no node answers', async () => {
    const run = await merklekv(['cli', '-p', '1', 'PING']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot connect to 127\.0\.0\.1:1/);
  });
});

describe('merklekv status', () => {
  let nats: NatsServer;
  const nodes: ClusterNode[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
    // One after the other: three nodes starting at once on a busy machine can miss the ready deadline.
    for (const id of ['a', 'b', 'c']) nodes.push(await startClusterNode(nats.url, id, ['--anti-entropy-interval', '1']));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => stopClusterNode(node)));
    await nats[Symbol.asyncDispose]();
  });

  it("shows every member, its state, the lag on its changes, outbox depth and the last anti-entropy session", async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    expect(await b.send('SET from-b 1')).toBe('OK');
    let table: string[] = [];
    await eventually('a status table with three members, b lagging by a measured figure and sessions with both peers', async () => {
      const run = await merklekv(['status', '--http-port', String(a.process.ports.http)]);
      table = lines(run.stdout);
      return run.code === 0 && /^b\s+alive\s+\S+\s+\d+\.\d{3}s\s+0\s+.+ago \(ok/.test(table.find((l) => l.startsWith('b ')) ?? '') && /^c\s+alive\s+.+ago \(ok/.test(table.find((l) => l.startsWith('c ')) ?? '');
    }, 30_000);
    expect(table[0]).toBe('cluster merkle_kv, as node a sees it');
    expect(table[1]).toMatch(/^NODE\s+STATE\s+HTTP\s+LAG\s+OUTBOX\s+LAST ANTI-ENTROPY$/);
    expect(table[2]).toMatch(/^a \(this node\)\s+alive\s/);
    expect(table).toHaveLength(5);
  });
});

describe('merklekv backup, restore and verify', () => {
  const dirs: string[] = [];
  const tempDir = async (label: string): Promise<string> => {
    const dir = await makeTempDir(label);
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => removeDir(dir)));
  });

  it('backs up a node under writes; the restored directory serves the HASH the node had at the backup', async () => {
    await using source = await startNode({ args: ['--engine', 'rocksdb'] });
    const writer = await TextClient.connect(source.ports.merklekv);
    for (let i = 0; i < 300; i++) expect(await writer.request(`SET base:${i} value-${i}`)).toBe('OK');

    // One writer, one request at a time: the n-th MSET is acknowledged before the n+1-th is sent,
    // so any consistent view of the node holds exactly the first k MSETs, both keys of each.
    let acked = 0;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        expect(await writer.request(`MSET w:${acked}:x ${acked} w:${acked}:y ${acked}`)).toBe('OK');
        acked++;
      }
    })();
    await eventually('writes under way', () => acked >= 20);
    const backupDir = join(await tempDir('backup'), 'b');
    const backup = merklekv(['backup', backupDir, '--http-port', String(source.ports.http)]);
    await backup.started;
    const ackedBefore = acked;
    const run = await backup;
    const sentBefore = acked + 1;
    writing = false;
    await writes;
    await writer.close();
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toMatch(/^backed up \d+ entries of node /);

    const dataDir = join(await tempDir('restored'), 'data');
    const restore = await merklekv(['restore', backupDir, '--data-dir', dataDir]);
    expect(restore.stdout).toMatch(/all 16 shard roots match the backup/);
    expect(restore.code).toBe(0);

    await using restored = await startNode({ args: ['--engine', 'rocksdb'], dataDir });
    const client = await TextClient.connect(restored.ports.merklekv);
    const total = Number((await client.request('DBSIZE')).split(' ')[1]);
    const msets = (total - 300) / 2;
    // A consistent cut: whole MSETs only, every one acknowledged before the backup began, none sent after it ended.
    expect(Number.isInteger(msets)).toBe(true);
    expect(msets).toBeGreaterThanOrEqual(ackedBefore);
    expect(msets).toBeLessThanOrEqual(sentBefore);
    for (const i of [0, msets - 1]) expect(await client.request(`EXISTS w:${i}:x w:${i}:y`)).toBe('EXISTS 2');
    expect(await client.request(`EXISTS w:${msets}:x w:${msets}:y`)).toBe('EXISTS 0');
    const restoredHash = await client.request('HASH');
    await client.close();

    // The node as it was at the backup: the same writes, in the same order, on a fresh node.
    await using replay = await startNode({ args: ['--engine', 'rocksdb'] });
    const again = await TextClient.connect(replay.ports.merklekv);
    for (let i = 0; i < 300; i++) expect(await again.request(`SET base:${i} value-${i}`)).toBe('OK');
    for (let i = 0; i < msets; i++) expect(await again.request(`MSET w:${i}:x ${i} w:${i}:y ${i}`)).toBe('OK');
    expect(restoredHash).toBe(await again.request('HASH'));
    await again.close();
  });

  it("verify passes on a healthy data directory and names the shard whose entries no longer match its tree", async () => {
    const dataDir = join(await tempDir('verify'), 'data');
    const node = await startNode({ args: ['--engine', 'rocksdb'], dataDir });
    const client = await TextClient.connect(node.ports.merklekv);
    for (let i = 0; i < 200; i++) expect(await client.request(`SET verify:${i} ${i}`)).toBe('OK');
    await client.close();
    expect(await node.stop()).toBe(0);

    const healthy = await merklekv(['verify', '--data-dir', dataDir]);
    expect(healthy.stdout).toMatch(/^ok: 16 shards of node \S+ match their entries \(200 entries\)$/m);
    expect(healthy.code).toBe(0);

    // A record lost on disk: the entry goes, the stored tree still covers it.
    const lost = 'verify:17';
    const engine = new RocksDbEngine(dataDir);
    await engine.open();
    await engine.write([{ type: 'del', shard: shardOf(lost, 16), key: lost }], true);
    await engine.close();

    const corrupted = await merklekv(['verify', '--data-dir', dataDir]);
    expect(corrupted.code).toBe(1);
    const shard = shardOf(lost, 16);
    expect(corrupted.stdout).toMatch(new RegExp(`^shard ${shard}: DIFFERS: stored root [0-9a-f]+… but its \\d+ entries give [0-9a-f]+…$`, 'm'));
    expect(corrupted.stdout).toMatch(new RegExp(`^FAILED: shard ${shard} of 16 differs from its entries$`, 'm'));
  });
});
