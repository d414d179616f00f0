/// <reference lib="dom" />
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { makeTempDir, type NatsServer, removeDir, repoRoot, startNatsServer } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

/** Debian's chromium (CI installs it like nats-server); playwright-core drives it, with no browser download. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-quic', '--disable-component-update', '--disable-sync'];
/**
 * The README's picture of the dashboard, which the key browser's test rewrites when
 * UPDATE_SCREENSHOT=1; other runs leave the working tree as they found it.
 */
const SCREENSHOT = process.env['UPDATE_SCREENSHOT'] === '1' ? join(repoRoot(), 'docs', 'dashboard.png') : undefined;

/** The dashboard of a 3-node cluster, in headless Chromium, as an operator would use it. */
describe('the dashboard', () => {
  let nats: NatsServer;
  const nodes: ClusterNode[] = [];
  let profile: string;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    nats = await startNatsServer();
    // One after the other: three nodes starting at once on a busy machine can miss the ready deadline.
    for (const id of ['a', 'b', 'c']) nodes.push(await startClusterNode(nats.url, id, ['--anti-entropy-interval', '1']));
    profile = await makeTempDir('chromium');
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 1100 } });
    page = await browser.newPage();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all(nodes.map((node) => stopClusterNode(node)));
    await nats?.[Symbol.asyncDispose]();
    if (profile) await removeDir(profile);
  });

  const stateOf = (id: string): Promise<string | null> => page.locator(`#members tr[data-node="${id}"] td.state`).textContent();

  it('shows the three members alive, their figures, and agreeing shard roots', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    for (let i = 0; i < 50; i++) expect(await b.send(`SET user:${i} name-${i}`)).toBe('OK');
    await page.goto(`http://127.0.0.1:${a.process.ports.http}/`);
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('#members tbody tr')];
        return rows.length === 3 && rows.every((row) => row.querySelector('td.state')?.textContent === 'alive');
      },
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.locator('#members tbody tr').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.node))).toEqual(['a', 'b', 'c']);
    // Every member's own tick stream reached the page, and replication made their data equal.
    await page.waitForFunction(() => document.getElementById('roots-status')?.textContent === 'shard roots agree on 3 members', undefined, { timeout: 30_000 });
    // Writes on b show in b's figures (its own stream) and as a's lag on b (a's metrics).
    const writer = (async () => {
      for (let i = 0; i < 200; i++) await b.send(`SET load:${i} ${i}`);
    })();
    await page.waitForFunction(() => Number(document.querySelector('#members tr[data-node="b"] td:nth-child(6)')?.textContent) > 0, undefined, { timeout: 30_000 });
    await writer;
    await page.waitForFunction(() => /^\d+\.\d{3} s$/.test(document.querySelector('#members tr[data-node="b"] td:nth-child(4)')?.textContent ?? ''), undefined, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('#sessions tbody tr td').length > 1, undefined, { timeout: 30_000 });
    expect(await page.locator('#ops-chart .u-legend').textContent()).toMatch(/a.*b.*c/s);
  }, 180_000);

  it('finds a key in the key browser and shows its value', async () => {
    await page.fill('#prefix', 'user:4');
    await page.click('#browse button');
    await page.locator('#keys li', { hasText: 'user:42' }).click();
    await page.waitForFunction(() => document.getElementById('value')?.textContent === 'name-42', undefined, { timeout: 10_000 });
    expect(await page.locator('#keys li').allTextContents()).toEqual(['user:4', 'user:40', 'user:41', 'user:42', 'user:43', 'user:44', 'user:45', 'user:46', 'user:47', 'user:48', 'user:49']);
    await page.waitForFunction(() => document.getElementById('roots-status')?.textContent === 'shard roots agree on 3 members', undefined, { timeout: 30_000 });
    const png = await page.screenshot({ fullPage: true, ...(SCREENSHOT !== undefined && { path: SCREENSHOT }) });
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  }, 60_000);

  it('turns a stopped member suspect, then dead', async () => {
    const c = nodes[2]!;
    await c.process.kill();
    await page.waitForFunction(() => document.querySelector('#members tr[data-node="c"] td.state')?.textContent === 'suspect', undefined, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('#members tr[data-node="c"] td.state')?.textContent === 'dead', undefined, { timeout: 30_000 });
    expect(await stateOf('a')).toBe('alive');
    expect(await stateOf('b')).toBe('alive');
  }, 90_000);
});
