import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, LineSplitter, type NodePorts, parseReadyLine, repoRoot, startNode } from '#testing';
import { RawClient } from './support/raw-client.js';

const ENTRY = join(repoRoot(), 'dist', 'apps', 'node', 'src', 'main.js');

/** Runs the node to completion, collecting its output. */
function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ENTRY, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the node process', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'merklekv-proc-'));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it.each([
    [['--port', 'abc'], 'port'],
    [['--shards', '0'], 'shards'],
    [['--engine', 'floppy'], 'engine'],
    [['--no-such-flag'], 'no-such-flag'],
    [['--config', 'missing.toml'], 'missing.toml'],
    // Protected mode: beyond loopback without users, the line says how to go on.
    [['--host', '0.0.0.0', '--port', '0', '--http-port', '0'], 'no users are configured: add a [[users]] entry to the config file (see README, Security) or pass --insecure'],
  ])('exits 2 with one line naming the problem for %j', async (args, named) => {
    const { code, stdout, stderr } = await run(args, cwd);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(named);
  });

  it('exits 2 when the data directory was made with another shard count', async () => {
    await using first = await startNode({ args: ['--shards', '8'] });
    expect(await first.stop()).toBe(0);
    const { code, stderr } = await run(['--data-dir', first.dataDir, '--shards', '16', '--port', '0', '--http-port', '0'], cwd);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('shards');
  });

  it('exits 2 on a broken TOML file', async () => {
    writeFileSync(join(cwd, 'bad.toml'), 'port = = 1\n');
    const { code, stderr } = await run(['--config', 'bad.toml'], cwd);
    expect(code).toBe(2);
    expect(stderr).toContain('bad.toml');
  });

  it("starts from the reference server's flat TOML, unknown keys only warned about", async () => {
    writeFileSync(
      join(cwd, 'merklekv.toml'),
      [
        'host = "127.0.0.1"',
        'port = 0',
        'storage_path = "refdata"',
        'engine = "sled"',
        'sync_interval_seconds = 60',
        'some_future_key = true',
        '[replication]',
        'enabled = false',
        'mqtt_broker = "localhost"',
        'mqtt_port = 1883',
        'topic_prefix = "merkle_kv"',
        'client_id = "node1"',
        '[anti_entropy]',
        'enabled = false',
        'interval_seconds = 30',
        'peer_list = []',
        '',
      ].join('\n'),
    );
    await using node = await startNode({ cwd, defaultFlags: false, args: ['--config', 'merklekv.toml', '--http-port', '0'] });
    {
      await using client = await RawClient.connect(node.ports.merklekv);
      expect(await client.exchange('SET k v\r\n', 'OK\r\n')).toBe('OK\r\n');
    }
    expect(node.logs()).toContain('some_future_key');
    expect(await node.stop('SIGINT')).toBe(0);
    expect(existsSync(join(cwd, 'refdata'))).toBe(true);
    expect(readdirSync(join(cwd, 'refdata')).length).toBeGreaterThan(0);
  });

  // Exit 0 also says "in time": a stop that overruns the node's 4.5 s deadline exits 1.
  it.each(['SIGTERM', 'SIGINT'] as const)('stops cleanly on %s, writing only JSON log lines', async (signal) => {
    await using node = await startNode();
    expect(await node.stop(signal)).toBe(0);
    for (const line of node.logs().split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('answers OK to SHUTDOWN, then exits 0 with its writes flushed', async () => {
    await using node = await startNode({ args: ['--engine', 'rocksdb'] });
    await using client = await RawClient.connect(node.ports.merklekv);
    await client.exchange('SET kept yes\r\n', 'OK\r\n');
    expect(await client.exchange('SHUTDOWN\r\n', 'OK\r\n')).toBe('OK\r\n');
    expect((await node.exited).code).toBe(0);
    await using again = await startNode({ dataDir: node.dataDir, args: ['--engine', 'rocksdb'] });
    await using second = await RawClient.connect(again.ports.merklekv);
    expect(await second.exchange('GET kept\r\n', 'VALUE yes\r\n')).toBe('VALUE yes\r\n');
  });
});

describe('npm start', () => {
  let dataDir: string;
  let ports: NodePorts | undefined;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'merklekv-npm-start-'));
    ports = undefined;
  });
  afterEach(async () => {
    // A node that outlived npm (the defect this guards against) is stopped through its own port.
    if (ports !== undefined && (await canConnect(ports.merklekv))) {
      await using client = await RawClient.connect(ports.merklekv);
      await client.exchange('SHUTDOWN\r\n', 'OK\r\n');
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  // What a process manager does (SIGTERM to npm), and what Ctrl-C does (SIGINT to the terminal's
  // whole process group: npm forwards its copy, so the node gets two). npm waits for the node
  // and exits with its status. `setsid` makes npm the leader of a group of its own; the prestart
  // build is skipped (--ignore-scripts): the tests run the dist/ built before them. npm's exit
  // is its 'exit' event: a node left running would hold the output pipes open.
  it.each([
    ['SIGTERM to npm', (npm: number) => process.kill(npm, 'SIGTERM')],
    ["Ctrl-C's SIGINT to npm's process group", (npm: number) => process.kill(-npm, 'SIGINT')],
  ])('stops the node and exits 0 on %s', async (_what, signal) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MERKLEKV_') && key !== 'NODE_OPTIONS' && !key.startsWith('npm_')) env[key] = value;
    const args = ['npm', 'start', '--ignore-scripts', '--', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--data-dir', dataDir];
    const npm = spawn('setsid', args, { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.once('exit', (code, signal) => resolve({ code, signal })));
    const lines: string[] = [];
    const ready = new Promise<NodePorts>((resolve, reject) => {
      const splitter = new LineSplitter((line) => {
        lines.push(line);
        const found = parseReadyLine(line);
        if (found !== undefined) resolve(found.ports);
      });
      npm.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
      npm.stderr.on('data', (chunk: Buffer) => splitter.push(chunk));
      void exited.then(() => reject(new Error(`npm start exited before the ready line:\n${lines.join('\n')}`)));
    });
    ports = await ready;
    signal(npm.pid!);
    expect(await exited).toEqual({ code: 0, signal: null });
    const open = await Promise.all([ports.merklekv, ports.http].map((port) => canConnect(port)));
    expect(open).toEqual([false, false]);
    expect(lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
  });
});
