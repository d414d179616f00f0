import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, freePort, isHarnessError, makeTempDir, type NodeProcess, removeDir, repoRoot, startNode } from '#testing';
import { RawClient } from './support/raw-client.js';

/** The documented rules: an unset http_port is port + 701 (7379 gives 8080), an unset memcached_port port + 3832 (11211). */
const HTTP_PORT_OFFSET = 701;
const MEMCACHED_PORT_OFFSET = 3832;

/** Free ports whose HTTP and memcached ports are free too: this test's nodes choose nothing else. */
async function portsWithRoomForHttp(count: number): Promise<number[]> {
  const chosen: number[] = [];
  const listeners = (port: number): number[] => [port, port + HTTP_PORT_OFFSET, port + MEMCACHED_PORT_OFFSET];
  while (chosen.length < count) {
    const port = await freePort();
    const [, http, memcached] = listeners(port) as [number, number, number];
    const clash = chosen.some((other) => listeners(other).some((taken) => listeners(port).includes(taken)));
    if (memcached <= 65_535 && !clash && !(await canConnect(http)) && !(await canConnect(memcached))) chosen.push(port);
  }
  return chosen;
}

describe("nodes started from the reference server's config files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('reference-config');
  });
  afterEach(() => removeDir(dir));

  /**
   * Starts one node per reference file, each given a port chosen beforehand (the file says
   * which). Another process may take such a port first: then all of it starts again, on others.
   */
  async function startSideBySide(reference: string, count: number): Promise<{ ports: number[]; nodes: NodeProcess[] }> {
    for (let attempt = 1; ; attempt++) {
      const ports = await portsWithRoomForHttp(count);
      const nodes: NodeProcess[] = [];
      try {
        for (const [i, port] of ports.entries()) {
          const file = join(dir, `node${i}.toml`);
          writeFileSync(file, reference.replace(/^port = \d+$/m, `port = ${port}`).replace(/^storage_path = .*$/m, `storage_path = "data${attempt}-${i}"`));
          nodes.push(await startNode({ cwd: dir, defaultFlags: false, args: ['--config', file] }));
        }
        return { ports, nodes };
      } catch (err) {
        for (const node of nodes) await node[Symbol.asyncDispose]();
        if (attempt < 5 && isHarnessError(err) && err.logs?.includes('EADDRINUSE') === true) continue;
        throw err;
      }
    }
  }

  it('run side by side on one host: each gets an HTTP port of its own', async () => {
    // The reference file names a MerkleKV port and no HTTP port (its server had no HTTP API):
    // both nodes used to claim 8080, and the second died.
    const reference = readFileSync(join(repoRoot(), 'libs/config/src/testing/reference-config.toml'), 'utf8');
    const { ports, nodes } = await startSideBySide(reference, 2);
    try {
      expect(nodes.map((node) => node.ports)).toEqual(ports.map((port) => ({ merklekv: port, http: port + HTTP_PORT_OFFSET, memcached: port + MEMCACHED_PORT_OFFSET })));
      for (const [i, node] of nodes.entries()) {
        await using client = await RawClient.connect(node.ports.merklekv);
        expect(await client.exchange(`SET whose node${i}\r\n`, 'OK\r\n')).toBe('OK\r\n');
        expect(await (await fetch(`http://127.0.0.1:${node.ports.http}/v1/kv/whose`)).text()).toBe(`node${i}`);
      }
    } finally {
      for (const node of nodes) await node[Symbol.asyncDispose]();
    }
  });
});
