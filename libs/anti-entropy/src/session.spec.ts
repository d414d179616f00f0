import fc from 'fast-check';
import { assign, encodeEntry, type Entry, entryDigest, merge, touch, ZERO_STAMP } from '#crdt';
import { MemoryEngine, type ReplicaStore, Store } from '#store';
import { decodeReply, decodeRequest, encodeReply, encodeRequest, PROTOCOL_VERSION, type ProtocolVersion, type Reply } from './codec.js';
import { Responder, type ResponderOptions } from './responder.js';
import { runSession, type SessionOptions } from './session.js';
import { MerkleSearchTree, rangeFingerprint, toHex } from '#mst';
import { add, del, entries, inc, link, openReplica, roots, set } from './testing/replicas.js';

const SEED = 0x5eed;

/** The join of both replicas' entries, key by key: what both must hold after a session. */
function expectedJoin(a: Store, b: Store): Map<string, string> {
  const out = new Map<string, string>();
  const left = entries(a);
  const right = entries(b);
  for (const key of new Set([...left.keys(), ...right.keys()])) {
    const joined = merge(left.get(key), right.get(key) ?? left.get(key)!);
    out.set(key, Buffer.from(encodeEntry(joined)).toString('hex'));
  }
  return out;
}

const encoded = (store: Store): Map<string, string> =>
  new Map([...entries(store)].map(([key, entry]): [string, string] => [key, Buffer.from(encodeEntry(entry)).toString('hex')]));

/** Makes `to` hold exactly what `from` holds, the way replication would. */
async function copyAll(from: Store, to: Store): Promise<void> {
  await Promise.all([...entries(from)].map(([key, entry]) => to.merge(key, entry)));
}

/**
 * A one-shard replica from sorted (key, entry, entry digest) items: a bulk-built tree beside a
 * map of the entries (a real store fills a shard this large too slowly for a unit test). Merges
 * join into the map and the tree, as a store's do.
 */
function bulkReplica(nodeId: string, items: readonly (readonly [key: string, entry: Entry, digest: Uint8Array])[]): ReplicaStore {
  const entries = new Map(items.map(([key, entry]) => [key, entry]));
  const tree = MerkleSearchTree.fromSorted(
    items.map(([key]) => Buffer.from(key)),
    items.map(([, , digest]) => digest),
  );
  return {
    nodeId,
    shardCount: 1,
    shardOf: () => 0,
    shardRoot: () => tree.root(),
    read: (key) => entries.get(key),
    readMany: (keys) => keys.map((key) => entries.get(key)),
    update: () => Promise.reject(new Error('merges only')),
    merge: (key, entry) => {
      const prev = entries.get(key);
      const joined = prev === undefined ? entry : merge(prev, entry);
      const changed = tree.upsert(Buffer.from(key), entryDigest(joined));
      if (changed) entries.set(key, joined);
      return Promise.resolve(changed);
    },
    applyTruncate: () => Promise.resolve(false),
    shardSnapshot: () => tree.snapshot(),
    trimSnapshot: () => {},
    shardFloor: () => ZERO_STAMP,
    shardTombstones: function* () {},
    collectTombstone: () => Promise.resolve(false),
  };
}

async function session(initiator: Store, responder: Store, options: Partial<SessionOptions> = {}, peer: Omit<ResponderOptions, 'store'> = {}) {
  const { transport, log, responder: r } = link(responder, peer);
  const report = await runSession({ store: initiator, transport, ...options });
  return { report, log, responder: r };
}

describe('an anti-entropy session', () => {
  let a: Store;
  let b: Store;
  beforeEach(async () => {
    a = await openReplica('a');
    b = await openReplica('b');
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('costs one round trip of under 1 KB when nothing differs', async () => {
    for (let i = 0; i < 200; i++) await set(a, `k${i}`, `v${i}`);
    await copyAll(a, b);
    const { report } = await session(a, b);
    expect(report.error).toBeNull();
    expect(report.roundTrips).toBe(1);
    expect(report.bytesSent + report.bytesReceived).toBeLessThan(1024);
    expect(report.differences).toBe(0);
    expect(report.completedShards).toEqual([0, 1, 2, 3]);
  });

  it('repairs writes of every type made on both sides, both ways, to the CRDT join of each key', async () => {
    for (let i = 0; i < 300; i++) await set(a, `common${i}`, `v${i}`);
    await inc(a, 'hits', 10n);
    await set(a, 'doomed', 'x');
    await copyAll(a, b);
    // Diverge: the same keys written on both sides, every type.
    await set(a, 'common1', 'from-a');
    await set(b, 'common1', 'from-b');
    await inc(a, 'hits', 5n);
    await inc(b, 'hits', 7n);
    await del(a, 'doomed');
    await set(b, 'common2', 'b-only-change');
    await del(b, 'common3');
    await add(a, 'tags', 'red');
    await add(b, 'tags', 'blue');
    for (let i = 0; i < 20; i++) await set(a, `a-only${i}`, 'a');
    for (let i = 0; i < 20; i++) await set(b, `b-only${i}`, 'b');
    const expected = expectedJoin(a, b);

    const { report } = await session(a, b);
    expect(report.error).toBeNull();
    expect(roots(a)).toEqual(roots(b));
    expect(encoded(a)).toEqual(expected);
    expect(encoded(b)).toEqual(expected);
    expect(report.keysPulled).toBeGreaterThan(0);
    expect(report.keysPushed).toBeGreaterThan(0);
    const hits = a.read('hits') as Entry & { type: 'counter' };
    expect([...hits.inc.values()].reduce((x, y) => x + y, 0n)).toBe(22n);

    const again = await session(b, a);
    expect(again.report).toMatchObject({ error: null, differences: 0, roundTrips: 1 });
  });

  it('repairs expiries like any field: a touch made on one side, an expired form swept on the other', async () => {
    // b's sweeper rests a minute after its first turn at open: it holds the expired entry as it was.
    const lazy = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'lazy', outbox: false, expirySweepIntervalMs: 60_000 });
    try {
      const soon = Date.now() + 50;
      await a.update('gone', (prev, stamp) => assign(prev, Buffer.from('x'), stamp, { expiry: { at: soon, stamp } }));
      await a.update('kept', (prev, stamp) => assign(prev, Buffer.from('y'), stamp, { expiry: { at: soon + 60_000, stamp } }));
      await copyAll(a, lazy);
      const touched = await lazy.update('kept', (prev, stamp) => touch(prev, soon + 120_000, stamp));
      const deadline = Date.now() + 10_000;
      while (a.read('gone')?.type !== 'tombstone') {
        if (Date.now() > deadline) throw new Error('a did not sweep the expired key');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(lazy.read('gone')?.type).toBe('register');
      const expected = expectedJoin(a, lazy);

      const { report } = await session(a, lazy);
      expect(report.error).toBeNull();
      expect(encoded(a)).toEqual(expected);
      expect(encoded(lazy)).toEqual(expected);
      expect(lazy.read('gone')?.type).toBe('tombstone');
      expect(a.read('kept')).toEqual(touched);
    } finally {
      await lazy.close();
    }
  });

  it('sends each differing record once, toward the side it wins on (both ways only to join)', async () => {
    for (let i = 0; i < 100; i++) await set(a, `k${i}`, 'old');
    await inc(a, 'both', 1n);
    await copyAll(a, b);
    for (let i = 0; i < 30; i++) await set(b, `k${i}`, 'newer on b');
    for (let i = 30; i < 50; i++) await set(a, `k${i}`, 'newer on a');
    await inc(a, 'both', 1n);
    await inc(b, 'both', 2n);
    const expected = expectedJoin(a, b);
    const { report } = await session(a, b);
    expect(report.error).toBeNull();
    expect(encoded(a)).toEqual(expected);
    expect(encoded(b)).toEqual(expected);
    expect({ sent: report.recordsSent, received: report.recordsReceived }).toEqual({ sent: 20 + 1, received: 30 + 1 });
  });

  it('converges any two histories in one session (property)', async () => {
    const op = fc.record({
      side: fc.constantFrom(0, 1),
      kind: fc.constantFrom('set', 'del', 'inc', 'add'),
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
      value: fc.string({ minLength: 1, maxLength: 3 }).map((s) => s.replace(/\s/g, '_')),
    });
    const version = fc.constantFrom<ProtocolVersion>(1, 2, 3, 4);
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 20 }), version, version, async (shared, diverged, ours, theirs) => {
        const x = await openReplica('x');
        const y = await openReplica('y');
        try {
          const apply = async (store: Store, o: (typeof shared)[number]): Promise<void> => {
            // A set operation on a register or counter is refused (WRONG_TYPE): that is fine here.
            const run = { set: () => set(store, o.key, o.value), del: () => del(store, o.key), inc: () => inc(store, o.key, 1n), add: () => add(store, o.key, o.value) }[o.kind];
            await run().catch(() => undefined);
          };
          for (const o of shared) await apply(o.side === 0 ? x : y, o);
          await copyAll(x, y);
          await copyAll(y, x);
          for (const o of diverged) await apply(o.side === 0 ? x : y, o);
          const expected = expectedJoin(x, y);
          const { report } = await session(x, y, { maxVersion: ours, limits: { maxRefsPerMessage: 2, maxMessageBytes: 300 } }, { limits: { maxVersion: theirs } });
          expect(report.error).toBeNull();
          expect(report.protocolVersion).toBe(Math.min(ours, theirs));
          expect(encoded(x)).toEqual(expected);
          expect(encoded(y)).toEqual(expected);
          expect(roots(x)).toEqual(roots(y));
        } finally {
          await x.close();
          await y.close();
        }
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('streams into an empty replica in bounded batches, with progress', async () => {
    for (let i = 0; i < 400; i++) await set(a, `key-${String(i).padStart(4, '0')}`, 'x'.repeat(50));
    await del(a, 'key-0007');
    const progress: number[] = [];
    const { transport, log } = link(a, { limits: { maxReplyBytes: 2000 } });
    const report = await runSession({ store: b, transport, onProgress: (p) => progress.push(p.streamed) });
    expect(report.error).toBeNull();
    expect(roots(b)).toEqual(roots(a));
    expect(report.differences).toBe(400);
    expect(log.requests.length).toBeGreaterThan(10);
    expect(progress.at(-1)).toBe(400);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
  });

  it('pushes a whole shard to an empty peer', async () => {
    for (let i = 0; i < 100; i++) await set(a, `k${i}`, 'v');
    const { report } = await session(a, b);
    expect(report.error).toBeNull();
    expect(report.keysPushed).toBe(100);
    expect(roots(b)).toEqual(roots(a));
  });

  it('carries truncation floors both ways', async () => {
    for (let i = 0; i < 50; i++) await set(a, `old${i}`, 'v');
    await copyAll(a, b);
    await a.truncate();
    await set(a, 'after', 'kept');
    await set(b, 'b-late', 'kept too');
    const { report } = await session(b, a);
    expect(report.error).toBeNull();
    expect(roots(a)).toEqual(roots(b));
    expect(b.read('old1')).toBeUndefined();
    expect(b.read('after')?.type).toBe('register');
    expect(a.read('b-late')?.type).toBe('register');
  });

  it('stops at its byte budget, keeps what it repaired, and the next session carries on', async () => {
    for (let i = 0; i < 300; i++) await set(a, `k${i}`, 'v'.repeat(100));
    const { transport } = link(a, { limits: { maxReplyBytes: 2000 } });
    const first = { report: await runSession({ store: b, transport, limits: { byteBudget: 8000 } }) };
    expect(first.report.error?.code).toBe('BUDGET');
    // No request goes out past the budget; the replies of the last round may overshoot it (4 shards' worth).
    expect(first.report.bytesSent + first.report.bytesReceived).toBeLessThanOrEqual(8000 + 4 * 2500);
    const some = entries(b).size;
    expect(some).toBeGreaterThan(0);
    const second = await session(b, a);
    expect(second.report.error).toBeNull();
    expect(roots(b)).toEqual(roots(a));
  });

  it('is cancelled by its signal', async () => {
    for (let i = 0; i < 100; i++) await set(a, `k${i}`, 'v');
    const controller = new AbortController();
    const { responder } = link(a);
    const report = await runSession({
      store: b,
      signal: controller.signal,
      transport: async (request) => {
        const reply = await responder.handle(request);
        controller.abort();
        return reply;
      },
    });
    expect(report.error?.code).toBe('ABORTED');
    expect(report.requests).toBe(1);
  });

  it('reports the code of a peer that refuses, and a peer that does not answer', async () => {
    await set(a, 'k', 'v');
    const refused = await runSession({ store: b, transport: link(a, { available: () => false }).transport });
    expect(refused.error).toMatchObject({ code: 'UNAVAILABLE', remote: true });
    const silent = await runSession({ store: b, transport: () => Promise.reject(new Error('timeout')) });
    expect(silent.error).toMatchObject({ code: 'TRANSPORT', remote: false });
    const garbage = await runSession({ store: b, transport: async () => new Uint8Array([1, 0x68, 9]) });
    expect(garbage.error?.code).toBe('DECODE');
    expect(entries(b).size).toBe(0);
  });
});

describe('a version 2 to 4 session', () => {
  let a: Store;
  let b: Store;
  beforeEach(async () => {
    a = await openReplica('a');
    b = await openReplica('b');
    for (let i = 0; i < 2000; i++) await set(a, `key-${i}`, `v${i}`);
    await copyAll(a, b);
    for (let i = 0; i < 2000; i += 97) await set(b, `key-${i}`, 'newer');
    for (let i = 0; i < 30; i++) await set(a, `only-a-${i}`, 'a');
    for (let i = 0; i < 30; i++) await set(b, `only-b-${i}`, 'b');
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  /** A link whose replies (or requests) pass through `rewrite` first, as a faulty or colliding peer would make them. */
  function tampered(peer: Store, rewrite: { reply?: (reply: Reply, n: number) => Reply; request?: (bytes: Uint8Array, n: number) => Uint8Array }) {
    const { transport, responder, log } = link(peer);
    let n = 0;
    return {
      log,
      responder,
      transport: async (request: Uint8Array, signal: AbortSignal): Promise<Uint8Array> => {
        const i = n++;
        const reply = await transport(rewrite.request?.(request, i) ?? request, signal);
        return rewrite.reply === undefined ? reply : encodeReply(rewrite.reply(decodeReply(reply), i));
      },
    };
  }

  it('repairs scattered differences in three round trips: hello, one sketch, one repair with its root check', async () => {
    const expected = expectedJoin(a, b);
    const { report, log } = await session(a, b);
    expect(report.error).toBeNull();
    expect(report.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(report.roundTrips).toBe(3);
    expect(encoded(a)).toEqual(expected);
    expect(roots(a)).toEqual(roots(b));
    expect(report.completedShards).toEqual([0, 1, 2, 3]);
    const ops = log.requests.slice(1).map((bytes) => {
      const request = decodeRequest(bytes);
      return request.kind === 'batch' ? request.ops.map((op) => op.op) : [];
    });
    expect(ops[0]!.every((op) => op === 'sketch')).toBe(true);
    expect(ops[1]).toContain('verify');
  });

  it('finds a difference a fingerprint collision hid: the root check fails and a second pass, with a new salt, repairs it', async () => {
    // Make every top range of the first hello look equal, as colliding fingerprints would.
    const ourFingerprints = (reply: Reply): Reply => {
      if (reply.kind !== 'hello') return reply;
      const salt = decodeRequest(first!).kind === 'hello' ? (decodeRequest(first!) as { salt: number }).salt : 0;
      return {
        ...reply,
        shards: reply.shards.map((shard, i) => {
          if (shard.top === null) return shard;
          const tree = a.shardSnapshot(i);
          const bounds = [null, ...shard.top.keys, null];
          return { ...shard, top: { ...shard.top, fingerprints: bounds.slice(1).map((hi, j) => rangeFingerprint(tree, bounds[j]!, hi, salt)) } };
        }),
      };
    };
    let first: Uint8Array | undefined;
    const { transport, log } = tampered(b, {
      request: (bytes, n) => {
        if (n === 0) first = bytes;
        return bytes;
      },
      reply: (reply, n) => (n === 0 ? ourFingerprints(reply) : reply),
    });
    const expected = expectedJoin(a, b);
    const report = await runSession({ store: a, transport });
    expect(report.error).toBeNull();
    const hellos = log.requests.filter((bytes) => decodeRequest(bytes).kind === 'hello').map((bytes) => (decodeRequest(bytes) as { salt: number }).salt);
    expect(hellos).toHaveLength(2);
    expect(hellos[0]).not.toBe(hellos[1]);
    expect(encoded(a)).toEqual(expected);
    expect(roots(a)).toEqual(roots(b));
  });

  it('asks again, bigger, for a sketch too small to peel', async () => {
    // The first sketch is asked with 4 cells, far too few for ~100 differences.
    const { transport, log } = tampered(b, {
      request: (bytes, n) => {
        const request = decodeRequest(bytes);
        if (n !== 1 || request.kind !== 'batch') return bytes;
        return encodeRequest({ ...request, ops: request.ops.map((op) => (op.op === 'sketch' ? { ...op, cells: 4 } : op)) });
      },
    });
    const expected = expectedJoin(a, b);
    const report = await runSession({ store: a, transport });
    expect(report.error).toBeNull();
    const cells = log.requests.flatMap((bytes) => {
      const request = decodeRequest(bytes);
      return request.kind === 'batch' ? request.ops.flatMap((op) => (op.op === 'sketch' ? [op.cells] : [])) : [];
    });
    expect(cells.filter((c) => c === 4).length).toBeGreaterThan(0);
    expect(cells.filter((c) => c > 4).length).toBeGreaterThan(0);
    expect(report.roundTrips).toBe(4);
    expect(encoded(a)).toEqual(expected);
    expect(roots(a)).toEqual(roots(b));
  });

  it('cuts the ranges of a shard with many differences into pieces, and sketches only the differing ones (v3)', async () => {
    // One shard of 20,000 keys: its ranges are cut on layer 2 (or are the top's), their pieces on layer 1 (~16 keys).
    const x = await openReplica('x', 1);
    const y = await openReplica('y', 1);
    try {
      await Promise.all(Array.from({ length: 20_000 }, (_, i) => set(x, `key-${i}`, `v${i}`)));
      await copyAll(x, y);
      await Promise.all(Array.from({ length: 200 }, (_, i) => set(y, `key-${i * 97}`, 'newer')));
      await Promise.all(Array.from({ length: 40 }, (_, i) => Promise.all([set(x, `only-x-${i}`, 'x'), set(y, `only-y-${i}`, 'y')])));
      const expected = expectedJoin(x, y);
      const items: Record<number, number> = {};
      const sent: Record<number, number> = {};
      for (const version of [3, 2] as const) {
        const z = await openReplica('z', 1);
        await copyAll(x, z);
        const { responder } = link(y);
        let sketched = 0;
        const report = await runSession({
          store: z,
          maxVersion: version,
          transport: async (request) => {
            const decoded = decodeRequest(request);
            const reply = await responder.handle(request);
            if (decoded.kind !== 'batch') return reply;
            const answered = decodeReply(reply);
            if (answered.kind !== 'batch') throw new Error(`a ${answered.kind} reply`);
            decoded.ops.forEach((op, i) => {
              const result = answered.results[i]!;
              if (op.op !== 'sketch' || result.op !== 'sketch') return;
              expect(op.pieces !== undefined).toBe(version === 3);
              expect(result.pieces !== undefined).toBe(version === 3);
              sketched += result.items;
            });
            return reply;
          },
        });
        expect(report.error).toBeNull();
        expect(report.protocolVersion).toBe(version);
        expect(report.roundTrips).toBe(3);
        expect(encoded(z)).toEqual(expected);
        expect(roots(z)).toEqual(roots(y));
        items[version] = sketched;
        sent[version] = report.bytesSent;
        await z.close();
      }
      // Here v2 cuts ranges of ~16 keys, each named by its key: the pieces read as few entries
      // for 4 bytes each (the bench shows the gain in entries read on bigger shards).
      expect(items[3]).toBeLessThan(items[2]! * 1.2);
      expect(sent[3]).toBeLessThan(sent[2]!);
    } finally {
      await x.close();
      await y.close();
    }
  });

  it('compares a shard in parts, a sketch op each, when it holds more keys than one op may cover', async () => {
    const expected = expectedJoin(a, b);
    // Parts of at most one key (estimated): every differing top range is a part of its own.
    const { report, log } = await session(a, b, { limits: { maxSketchKeys: 1 } });
    expect(report.error).toBeNull();
    expect(encoded(a)).toEqual(expected);
    expect(roots(a)).toEqual(roots(b));
    expect(report.completedShards).toEqual([0, 1, 2, 3]);
    const sketches = log.requests.slice(1).flatMap((bytes) => {
      const request = decodeRequest(bytes);
      return request.kind === 'batch' ? request.ops.flatMap((op) => (op.op === 'sketch' ? [op] : [])) : [];
    });
    for (let shard = 0; shard < 4; shard++) expect(sketches.filter((op) => op.shard === shard).length).toBeGreaterThan(1);
    expect(sketches.every((op) => op.spans.length === 1)).toBe(true);
  });

  it('cuts pieces that mostly differ again a layer lower before sketching them (v4)', async () => {
    // 600,000 keys in one shard: its top is on layer 4, its ranges cut on layer 3 and their
    // pieces on layer 2 (~256 keys); at 1% changed, nine in ten pieces hold a difference.
    const KEYS = 600_000;
    const item = (i: number, node: string, wall: number): [string, Entry, Uint8Array] => {
      const entry: Entry = { type: 'register', stamp: { hlc: { wall: wall + i, logical: 0 }, node }, value: Buffer.from(`${node}${i}`) };
      return [`key-${String(i).padStart(7, '0')}`, entry, entryDigest(entry)];
    };
    const base = Array.from({ length: KEYS }, (_, i) => item(i, 'x', 1_700_000_000_000));
    const x = bulkReplica('x', base);
    const y = bulkReplica('y', base.map((held, i) => (i % 100 === 37 ? item(i, 'y', 1_700_000_100_000) : held)));
    const responder = new Responder({ store: y });
    let refines = 0;
    let items = 0;
    const report = await runSession({
      store: x,
      transport: async (request) => {
        const reply = await responder.handle(request);
        const decoded = decodeReply(reply);
        for (const result of decoded.kind === 'batch' ? decoded.results : []) {
          if (result.op === 'refine') refines++;
          if (result.op === 'sketch') items += result.items;
        }
        return reply;
      },
    });
    expect(report.error).toBeNull();
    expect(toHex(x.shardRoot(0))).toBe(toHex(y.shardRoot(0)));
    expect(report.keysPulled).toBe(KEYS / 100);
    expect(refines).toBeGreaterThan(0);
    // The differing sub-pieces hold about a third of the keys (a difference falls in a large
    // piece more often than in a small one), where the differing pieces held nine tenths.
    expect(items).toBeLessThan(0.4 * KEYS);
    // Hello, refine, sketch, the fetches (two rounds of four messages), the root check.
    expect(report.roundTrips).toBeLessThanOrEqual(6);
  }, 60_000);

  it('asks again for the sketches and resolves a busy responder put off, and converges (v4)', async () => {
    const expected = expectedJoin(a, b);
    // A batch may work 0 ms: the responder runs its first op and puts off every sketch and resolve after it.
    const { report, log } = await session(a, b, {}, { limits: { maxBatchMs: 0 } });
    expect(report.error).toBeNull();
    expect(report.protocolVersion).toBe(4);
    expect(encoded(a)).toEqual(expected);
    expect(roots(a)).toEqual(roots(b));
    expect(report.completedShards).toEqual([0, 1, 2, 3]);
    // The four shards' sketches go together, then again those put off (all of them when another
    // shard's repair came first), down to the last one.
    const sketches = log.requests
      .slice(1)
      .map((bytes) => {
        const request = decodeRequest(bytes);
        return request.kind === 'batch' ? request.ops.filter((op) => op.op === 'sketch').length : 0;
      })
      .filter((n) => n > 0);
    expect(sketches[0]).toBe(4);
    expect(sketches.at(-1)).toBe(1);
    expect(sketches.every((n, i) => i === 0 || n <= sketches[i - 1]!)).toBe(true);
    expect(report.roundTrips).toBeGreaterThan(4);
    // A version 3 batch is never put off: that initiator would not know to ask again.
    const v3 = await session(b, a, { maxVersion: 3 }, { limits: { maxBatchMs: 0 } });
    expect(v3.report.error).toBeNull();
    expect(v3.report.roundTrips).toBe(1);
  });

  it('speaks version 1 with a peer of an older release, and answers one', async () => {
    const expected = expectedJoin(a, b);
    const old = await session(a, b, {}, { limits: { maxVersion: 1 } });
    expect(old.report.error).toBeNull();
    expect(old.report.protocolVersion).toBe(1);
    // The refused v4, v3 and v2 hellos, the v1 hello, then the v1 descent.
    expect(old.log.requests.map((bytes) => bytes[0])).toEqual([4, 3, 2, ...old.log.requests.slice(3).map(() => 1)]);
    expect(encoded(a)).toEqual(expected);
    expect(roots(a)).toEqual(roots(b));
    await set(a, 'later', 'x');
    const asOld = await session(b, a, { maxVersion: 1 });
    expect(asOld.report.error).toBeNull();
    expect(asOld.report.protocolVersion).toBe(1);
    expect(asOld.log.requests.every((bytes) => bytes[0] === 1)).toBe(true);
    expect(roots(a)).toEqual(roots(b));
  });
});
