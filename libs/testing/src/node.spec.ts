import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseReadyLine, startNode } from './node.js';
import { isProcessAlive } from './process.js';
import { TextClient } from './text-client.js';

const FAKE = fileURLToPath(new URL('./testing/fake-node.js', import.meta.url));

/** The argv the fake node logged in its first line. */
function loggedArgv(logs: string): string[] {
  const first = logs.split('\n').find((l) => l.includes('"msg":"starting"'));
  if (first === undefined) throw new Error(`no starting line in:\n${logs}`);
  return (JSON.parse(first) as { argv: string[] }).argv;
}

/** The temp dirs these tests' startNode calls may have created and not yet removed (other tests' runs in parallel use other labels). */
const TEMP_LABEL = 'harness-spec';
const nodeTempDirs = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith(`merklekv-${TEMP_LABEL}-`));

describe('parseReadyLine', () => {
  it('accepts only the JSON ready line, and rejects one without ports', () => {
    expect(parseReadyLine('starting')).toBeUndefined();
    expect(parseReadyLine('{"msg":"listening","ports":{}}')).toBeUndefined();
    expect(parseReadyLine('{"msg":"ready"')).toBeUndefined();
    expect(parseReadyLine('{"level":"info","msg":"ready","ports":{"merklekv":1,"http":2,"memcached":3}}')?.ports).toEqual({
      merklekv: 1,
      http: 2,
      memcached: 3,
    });
    // A node without a memcached listener leaves that port out.
    expect(parseReadyLine('{"msg":"ready","ports":{"merklekv":1,"http":2}}')?.ports).toEqual({ merklekv: 1, http: 2 });
    expect(() => parseReadyLine('{"msg":"ready","ports":{"merklekv":1}}')).toThrow(/without ports/);
    expect(() => parseReadyLine('{"msg":"ready","ports":{"merklekv":1,"http":2,"memcached":"x"}}')).toThrow(/without ports/);
  });
});

describe('startNode (against a fake node)', () => {
  it('passes the default flags, reads the ports from the ready line, and removes its temp dir on dispose', async () => {
    let pid: number;
    let dataDir: string;
    {
      await using node = await startNode({ entry: FAKE });
      pid = node.pid;
      dataDir = node.dataDir;
      expect(node.readyLine['msg']).toBe('ready');
      expect(new Set([node.ports.merklekv, node.ports.http, node.ports.memcached]).size).toBe(3);
      expect(existsSync(join(dataDir, 'fake.db'))).toBe(true);
      expect(loggedArgv(node.logs())).toEqual(['--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--memcached-port', '0', '--data-dir', dataDir]);
      await using client = await TextClient.connect(node.ports.merklekv);
      expect(await client.request('PING')).toBe('PONG');
    }
    expect(isProcessAlive(pid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  }, 20_000);

  it('lets args replace a default flag and keeps a data dir it did not create', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'merklekv-spec-'));
    try {
      {
        await using node = await startNode({ entry: FAKE, dataDir: dir, args: ['--port=0', '--node-id', 'n1'] });
        expect(node.dataDir).toBe(dir);
        const argv = loggedArgv(node.logs());
        expect(argv.filter((a) => a.startsWith('--port'))).toEqual(['--port=0']);
        expect(argv.slice(0, 3)).toEqual(['--port=0', '--node-id', 'n1']);
        expect(await node.stop()).toBe(0);
        expect(await node.stop()).toBe(0);
      }
      expect(existsSync(join(dir, 'fake.db'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);

  it('rejects with the log tail when the node exits before ready, and leaves no temp dir', async () => {
    const before = nodeTempDirs();
    const err: unknown = await startNode({ entry: FAKE, tempLabel: TEMP_LABEL, env: { FAKE_NODE_MODE: 'exit-early' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HarnessError', code: 'EXITED_EARLY' });
    expect((err as Error).message).toMatch(/exited with code 3 before ready line/);
    expect((err as Error).message).toContain('config invalid: fake failure');
    expect(nodeTempDirs()).toEqual(before);
  }, 20_000);

  it('kills a node that never gets ready, and fails at once on a ready line without ports', async () => {
    const before = nodeTempDirs();
    // Long enough for the fake to log its pid on a loaded machine; it never gets ready.
    const hung: unknown = await startNode({ entry: FAKE, tempLabel: TEMP_LABEL, env: { FAKE_NODE_MODE: 'hang' }, readyTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(hung).toMatchObject({ code: 'READY_TIMEOUT' });
    const hungPid = (JSON.parse((hung as { logs: string }).logs.split('\n')[0] ?? '{}') as { pid?: number }).pid;
    expect(hungPid === undefined ? 'no pid logged' : isProcessAlive(hungPid)).toBe(false);

    await expect(startNode({ entry: FAKE, tempLabel: TEMP_LABEL, env: { FAKE_NODE_MODE: 'bad-ready' } })).rejects.toMatchObject({
      code: 'BAD_READY_LINE',
      message: expect.stringContaining('"msg":"starting"'),
    });
    expect(nodeTempDirs()).toEqual(before);
  }, 20_000);

  it('SIGKILLs a node that ignores SIGTERM past the stop deadline', async () => {
    await using node = await startNode({ entry: FAKE, env: { FAKE_NODE_MODE: 'ignore-sigterm' }, stopTimeoutMs: 300 });
    expect(await node.stop()).toBe(137);
    expect(node.logs()).toContain('ignoring SIGTERM');
  }, 20_000);

  it('says to build first when the entry is missing', async () => {
    await expect(startNode({ entry: join(tmpdir(), 'no-such-main.js') })).rejects.toMatchObject({
      code: 'SPAWN_FAILED',
      message: expect.stringContaining('npm run build'),
    });
  });
});
