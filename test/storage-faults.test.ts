import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { eventually, repoRoot, startNode, TextClient } from '#testing';

const ENTRY = join(repoRoot(), 'dist', 'apps', 'node', 'src', 'main.js');
/** Big enough for RocksDB's preallocated log and a first flush; small enough to fill in a moment. */
const TMPFS_MIB = 160;

const isRoot = process.getuid?.() === 0;
/** Mounting a tmpfs needs root, as CI runs; elsewhere these tests say so and skip. */
const asRoot = isRoot ? describe : describe.skip;
if (!isRoot) process.stderr.write('storage-faults: skipped (needs root to mount a small tmpfs as the data directory)\n');

/** A tmpfs of `mib` MiB on a new temp dir: a disk that can be filled, or made read-only. */
function mountTmpfs(mib: number): { dir: string; unmount: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'merklekv-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir]);
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freeBytes(dir: string): number {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
}

/** Runs the node to its exit (it is expected to refuse to start), collecting stderr. */
function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ENTRY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const PORTS = ['--port', '0', '--http-port', '0', '--memcached-port', 'off'];

asRoot('storage faults', () => {
  let disk: { dir: string; unmount: () => void } | undefined;
  afterEach(() => {
    disk?.unmount();
    disk = undefined;
  });

  it('refuses writes while the disk is full, says so once, and takes writes again by itself once space returns', async () => {
    disk = mountTmpfs(TMPFS_MIB);
    const dataDir = join(disk.dir, 'data');
    mkdirSync(dataDir);
    const node = await startNode({ args: ['--engine', 'rocksdb', '--shards', '4'], dataDir });
    const ready = async (): Promise<{ status: number; body: string }> => {
      const res = await fetch(`http://127.0.0.1:${node.ports.http}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    try {
      await using client = await TextClient.connect(node.ports.merklekv, { timeoutMs: 10_000 });
      const acked = new Map<string, string>();
      // Incompressible values: the log compresses what it writes.
      const value = (): string => randomBytes(6 * 1024).toString('base64url');
      for (let i = 0; i < 50; i++) {
        const v = value();
        expect(await client.request(`SET before${i} ${v}`)).toBe('OK');
        acked.set(`before${i}`, v);
      }

      const filler = join(disk.dir, 'filler');
      writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes(disk.dir) - 2 * 1024 * 1024)));
      let failure: string | undefined;
      for (let i = 0; failure === undefined; i++) {
        if (i > 10_000) throw new Error('the writes never failed on a full disk');
        const v = value();
        const reply = await client.request(`SET full${i} ${v}`);
        if (reply === 'OK') acked.set(`full${i}`, v);
        else failure = reply;
      }
      expect(failure).toMatch(/^ERROR .*storage write failed.*No space left on device/);
      // Later writes are refused at once, naming the cause; reads are still served.
      for (let i = 0; i < 20; i++) {
        expect(await client.request(`SET refused${i} x`)).toMatch(/^ERROR .*storage unavailable since .*No space left on device/);
      }
      expect(await client.request('GET before0')).toBe(`VALUE ${acked.get('before0')}`);
      const whileFull = await ready();
      expect(whileFull.status).toBe(503);
      expect(JSON.parse(whileFull.body)).toMatchObject({ problems: { storage: expect.stringContaining('No space left on device') } });
      const storage = async (): Promise<unknown> => ((await (await fetch(`http://127.0.0.1:${node.ports.http}/v1/cluster`)).json()) as { node: { storage: unknown } }).node.storage;
      expect(await storage()).toMatchObject({ state: 'failed', error: expect.stringContaining('No space left on device'), restartRequired: false });
      // The log line comes through the node's output pipe, and may follow the replies that came through the socket.
      await node.waitForLine('storage writes fail', 5_000);
      const failedLines = (): number => node.logs().split('\n').filter((l) => l.includes('storage writes fail')).length;
      expect(failedLines()).toBe(1);

      rmSync(filler);
      await eventually('writes to resume once space is back', async () => (await client.request('SET resumed yes')) === 'OK', 20_000);
      expect((await ready()).status).toBe(200);
      expect(await storage()).toEqual({ state: 'ok' });
      await node.waitForLine('storage writes resumed', 5_000);
      expect(failedLines()).toBe(1);

      for (const [key, v] of acked) expect(await client.request(`GET ${key}`)).toBe(`VALUE ${v}`);
      expect(await client.request('GET refused0')).toBe('NOT_FOUND');
      await client.close();
      expect(await node.stop()).toBe(0);

      // And after a restart on the same directory.
      await using again = await startNode({ args: ['--engine', 'rocksdb', '--shards', '4'], dataDir });
      await using reader = await TextClient.connect(again.ports.merklekv, { timeoutMs: 10_000 });
      for (const [key, v] of acked) expect(await reader.request(`GET ${key}`)).toBe(`VALUE ${v}`);
      expect(await reader.request('GET resumed')).toBe('VALUE yes');
      expect(await again.stop()).toBe(0);
    } finally {
      await node.stop().catch(() => undefined);
    }
  });

  it('exits 2 with one line naming the cause when the data directory is read-only', async () => {
    disk = mountTmpfs(16);
    const dataDir = join(disk.dir, 'data');
    mkdirSync(dataDir);
    execFileSync('mount', ['-o', 'remount,ro', disk.dir]);
    const { code, stderr } = await run(['--data-dir', dataDir, ...PORTS]);
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot open the data directory ${dataDir}: the file system is mounted read-only`);
  });
});

describe('a data directory held by another node', () => {
  it('exits 2 with one line saying another process holds it', async () => {
    await using first = await startNode({ args: ['--engine', 'rocksdb'] });
    const { code, stderr } = await run(['--data-dir', first.dataDir, ...PORTS]);
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot open the data directory ${first.dataDir}: another process`);
  });
});

describe('a data directory that is not a directory', () => {
  it('exits 2 with one line naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'merklekv-notdir-'));
    try {
      const file = join(dir, 'file');
      writeFileSync(file, 'x');
      const { code, stderr } = await run(['--data-dir', file, ...PORTS]);
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain(`cannot open the data directory ${file}: data_dir names something that is not a directory`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
