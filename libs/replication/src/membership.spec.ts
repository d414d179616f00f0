import { eventually, type NatsServer, startNatsServer } from '#testing';
import {
  type Announcement,
  Membership,
  type MembershipOptions,
  type PeerChange,
  decodeAnnouncement,
  encodeAnnouncement,
} from './membership.js';
import { type TestClient, testClient } from './testing/nats.js';

let nats: NatsServer;
let clusters = 0;

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
}, 20_000);

afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

interface Member extends AsyncDisposable {
  readonly membership: Membership;
  readonly client: TestClient;
  readonly changes: PeerChange[];
  /** "id:previous>state" for each change, in order. */
  transitions(): string[];
}

async function member(id: string, cluster: string, options: Partial<MembershipOptions> = {}): Promise<Member> {
  const client = await testClient(nats.url, id);
  const changes: PeerChange[] = [];
  const membership = new Membership({
    nc: client.nc,
    cluster,
    self: { id, version: '1.2.3', addresses: { merklekv: `${id}:7379`, http: `${id}:8080` } },
    intervalMs: 100,
    suspectAfterMs: 400,
    deadAfterMs: 1_000,
    roots: () => ({ 0: 'ab'.repeat(32), 15: '' }),
    load: () => 0.5,
    outboxDepth: () => 7,
    onChange: (c) => void changes.push(c),
    ...options,
  });
  membership.start();
  return {
    membership,
    client,
    changes,
    transitions: () => changes.map((c) => `${c.peer.id}:${c.previous ?? 'new'}>${c.peer.state}`),
    async [Symbol.asyncDispose]() {
      await membership.stop();
      await client[Symbol.asyncDispose]();
    },
  };
}

const newCluster = (): string => `m${(clusters += 1)}`;

const announcement: Announcement = {
  id: 'n1',
  version: '0.1.0',
  addresses: { merklekv: '10.0.0.1:7379', http: '10.0.0.1:8080' },
  startedAt: 1_700_000_000_000,
  roots: { 0: '00ff', 4095: '' },
  load: 1.25,
  outboxDepth: 3,
  leaving: false,
};

describe('announcements on the wire', () => {
  it('round-trip', () => {
    expect(decodeAnnouncement(encodeAnnouncement(announcement))).toEqual(announcement);
  });

  it('are decoded strictly: anything malformed is BAD_MESSAGE', () => {
    const base = JSON.parse(new TextDecoder().decode(encodeAnnouncement(announcement))) as Record<string, unknown>;
    const variants: unknown[] = [
      { ...base, v: 2 },
      { ...base, id: 'a.b' },
      { ...base, id: '' },
      { ...base, version: 7 },
      { ...base, addresses: null },
      { ...base, addresses: { merklekv: 'x' } },
      { ...base, startedAt: -1 },
      { ...base, startedAt: 1.5 },
      { ...base, roots: { 4096: '00' } },
      { ...base, roots: { '01': '00' } },
      { ...base, roots: { 1: 'ABCD' } },
      { ...base, roots: { 1: 'abc' } },
      { ...base, roots: [] },
      { ...base, load: -1 },
      { ...base, load: '1' },
      { ...base, outboxDepth: 2 ** 60 },
      { ...base, leaving: 'yes' },
      [],
      null,
      'n1',
    ];
    for (const v of variants) {
      expect(() => decodeAnnouncement(new TextEncoder().encode(JSON.stringify(v)))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    }
    const proto = JSON.stringify(base).replace('"roots":{', '"roots":{"__proto__":"00",');
    for (const bytes of [new Uint8Array(0), Uint8Array.from([0xff, 0xfe]), new TextEncoder().encode('{"v":1'), new TextEncoder().encode(proto)]) {
      expect(() => decodeAnnouncement(bytes)).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    }
    // Unknown fields are tolerated (a newer peer may announce more).
    expect(decodeAnnouncement(new TextEncoder().encode(JSON.stringify({ ...base, zone: 'eu' })))).toEqual(announcement);
  });
});

describe('Membership', () => {
  it('two nodes see each other alive, with what they announce', async () => {
    const cluster = newCluster();
    await using a = await member('a', cluster);
    await using b = await member('b', cluster);
    await eventually(
      () => `${JSON.stringify(a.membership.view())} / ${JSON.stringify(b.membership.view())}`,
      () => a.membership.peer('b')?.state === 'alive' && b.membership.peer('a')?.state === 'alive',
    );
    expect(a.membership.view()).toEqual([
      expect.objectContaining({
        id: 'b',
        version: '1.2.3',
        addresses: { merklekv: 'b:7379', http: 'b:8080' },
        roots: { 0: 'ab'.repeat(32), 15: '' },
        load: 0.5,
        outboxDepth: 7,
        leaving: false,
        state: 'alive',
      }),
    ]);
    expect(a.transitions()).toEqual(['b:new>alive']);
    // A node does not list itself.
    expect(b.membership.view().map((p) => p.id)).toEqual(['a']);
  }, 20_000);

  it('a node that goes silent becomes suspect, then dead; it comes back alive when it announces again', async () => {
    const cluster = newCluster();
    await using a = await member('a', cluster);
    const b = await member('b', cluster);
    await eventually('a to see b alive', () => a.membership.peer('b')?.state === 'alive');
    // A crash: b's connection goes away without a goodbye.
    await b.client.nc.close();
    await eventually(() => a.transitions().join(' '), () => a.membership.peer('b')?.state === 'dead');
    expect(a.transitions()).toEqual(['b:new>alive', 'b:alive>suspect', 'b:suspect>dead']);
    await b.membership.stop();

    await using b2 = await member('b', cluster);
    await eventually(() => a.transitions().join(' '), () => a.membership.peer('b')?.state === 'alive');
    expect(a.transitions().at(-1)).toBe('b:dead>alive');
    await eventually(() => b2.transitions().join(' '), () => b2.membership.peer('a')?.state === 'alive');
  }, 20_000);

  it('a node that leaves gracefully is dead at once, never suspect', async () => {
    const cluster = newCluster();
    // Long timeouts: only the `leaving` announcement can make b dead within the test.
    await using a = await member('a', cluster, { suspectAfterMs: 30_000, deadAfterMs: 60_000 });
    const b = await member('b', cluster);
    await eventually('a to see b alive', () => a.membership.peer('b')?.state === 'alive');
    await b[Symbol.asyncDispose]();
    await eventually(() => a.transitions().join(' '), () => a.membership.peer('b')?.state === 'dead', 5_000);
    expect(a.transitions()).toEqual(['b:new>alive', 'b:alive>dead']);
    expect(a.membership.peer('b')?.leaving).toBe(true);
  }, 20_000);

  it('ignores garbage and announcements of an older incarnation', async () => {
    const cluster = newCluster();
    await using a = await member('a', cluster);
    await using raw = await testClient(nats.url);
    const subject = `merklekv.${cluster}.members`;
    const junk = [Uint8Array.from([1, 2, 3]), new TextEncoder().encode('{"v":1,"id":"x"}'), new TextEncoder().encode('null')];
    for (const bytes of junk) raw.nc.publish(subject, bytes);
    raw.nc.publish(subject, encodeAnnouncement({ ...announcement, id: 'z', startedAt: 2_000 }));
    raw.nc.publish(subject, encodeAnnouncement({ ...announcement, id: 'z', startedAt: 1_000, version: 'old' }));
    await raw.nc.flush();
    await eventually(() => JSON.stringify(a.membership.stats), () => a.membership.stats.garbage === 3 && a.membership.peer('z') !== undefined);
    await eventually(() => JSON.stringify(a.membership.stats), () => a.membership.stats.received >= 2);
    expect(a.membership.peer('z')).toMatchObject({ startedAt: 2_000, version: '0.1.0' });
    expect(a.membership.view().map((p) => p.id)).toEqual(['z']);
  }, 20_000);

  it('widens its timeouts while its own event loop lags (Lifeguard), instead of suspecting healthy peers', async () => {
    const cluster = newCluster();
    await using a = await member('a', cluster);
    await using b = await member('b', cluster);
    await eventually('a and b to see each other alive', () => a.membership.peer('b')?.state === 'alive' && b.membership.peer('a')?.state === 'alive');
    // Freeze this process (both nodes) for longer than deadAfterMs.
    const frozenUntil = Date.now() + 1_500;
    while (Date.now() < frozenUntil) {
      // busy
    }
    expect(a.membership.stats.lagMs).toBeGreaterThanOrEqual(1_000);
    expect(a.membership.stats.timeoutFactor).toBeGreaterThan(1);
    // Let the timers and the queued announcements run: nobody becomes suspect.
    const received = a.membership.stats.received;
    await eventually(() => JSON.stringify(a.membership.stats), () => a.membership.stats.received > received + 5);
    expect(a.transitions()).toEqual(['b:new>alive']);
    expect(b.transitions()).toEqual(['a:new>alive']);
  }, 20_000);
});
