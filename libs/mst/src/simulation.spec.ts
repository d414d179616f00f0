/**
 * Seeded simulation of N replicas (issue 3): every replica applies random operations of every
 * CRDT type to a small shared key space and publishes its changes over a network that drops,
 * duplicates and reorders messages and is split by partitions. Anti-entropy sessions (the MST
 * remote descent, through the binary codec) run now and then in the middle of all this, over the
 * same unreliable network, while writes continue. At the end the network heals, writes stop, and
 * replicas repair pairwise with the remote descent until a whole round finds nothing; then every
 * replica must hold the same root, the same entries, and exactly the join of every change ever
 * made.
 *
 * Short by default (3 seeds x 3,000 steps, 60 keys); MERKLEKV_LONG_SIM=1 runs 12 seeds x 30,000
 * steps over 400 keys. MERKLEKV_SIM_SEED picks one seed, MERKLEKV_SIM_REPLICAS the replica count,
 * MERKLEKV_SIM_VERBOSE=1 prints each run's counters.
 */
import { entryDigest, type Entry, HybridLogicalClock, increment, isCrdtError, latestHlc, merge, remove, setAdd, setRemove, assign } from '#crdt';
import { isMstError } from './errors.js';
import { decodeRequest, decodeResponse, DiffSession, encodeRequest, encodeResponse, SnapshotCache } from './sync.js';
import { hex } from './testing/model.js';
import { MerkleSearchTree } from './tree.js';

const LONG = process.env.MERKLEKV_LONG_SIM === '1';
const REPLICAS = Number(process.env.MERKLEKV_SIM_REPLICAS ?? 5);
const SEEDS = process.env.MERKLEKV_SIM_SEED !== undefined ? [Number(process.env.MERKLEKV_SIM_SEED)] : LONG ? Array.from({ length: 12 }, (_, i) => 1000 + i) : [1, 2, 3];
const STEPS = LONG ? 30_000 : 3_000;
const KEYS = LONG ? 400 : 60;

/** mulberry32: small, fast, good enough, and the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Replica {
  readonly id: string;
  readonly clock: HybridLogicalClock;
  readonly store: Map<string, Entry>;
  readonly tree: MerkleSearchTree;
  readonly served: SnapshotCache;
}

interface Message {
  readonly from: number;
  readonly to: number;
  readonly key: string;
  readonly change: Entry;
}

interface Sync {
  readonly a: number;
  readonly b: number;
  readonly session: DiffSession;
}

function simulate(seed: number): void {
  const rand = prng(seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  let now = 1_700_000_000_000;
  const replicas: Replica[] = Array.from({ length: REPLICAS }, (_, i) => {
    const skew = pick(400) - 200; // clocks disagree by up to 0.4 s
    return {
      id: `node-${i}`,
      clock: new HybridLogicalClock({ now: () => now + skew }),
      store: new Map(),
      tree: new MerkleSearchTree(),
      served: new SnapshotCache(16),
    };
  });
  const keys = Array.from({ length: KEYS }, (_, i) => hex(utf8(`key:${i}`)));
  // Every change ever produced, per key: the replicas must end with exactly their join.
  const allChanges = new Map<string, Entry[]>();
  const network: Message[] = [];
  const syncs: Sync[] = [];
  let partition: { side: Set<number>; until: number } | null = null;
  const stats = { ops: 0, rejected: 0, delivered: 0, dropped: 0, duplicated: 0, syncsDone: 0, syncsFailed: 0, repairRounds: 0 };

  const cut = (x: number, y: number): boolean => partition !== null && partition.side.has(x) !== partition.side.has(y);

  const apply = (r: Replica, key: string, change: Entry): void => {
    r.clock.observe(latestHlc(change));
    const prev = r.store.get(key);
    const next = merge(prev, change);
    if (next === prev) return;
    r.store.set(key, next);
    r.tree.upsert(Buffer.from(key, 'hex'), entryDigest(next));
  };

  const publish = (from: number, key: string, change: Entry): void => {
    for (let to = 0; to < REPLICAS; to++) if (to !== from) network.push({ from, to, key, change });
  };

  const localOp = (i: number): void => {
    const r = replicas[i]!;
    const key = keys[pick(keys.length)]!;
    const prev = r.store.get(key);
    const stamp = { hlc: r.clock.tick(), node: r.id };
    const element = utf8(`e${pick(6)}`);
    let m;
    try {
      switch (pick(6)) {
        case 0:
          m = assign(prev, utf8(rand() < 0.5 ? String(pick(100) - 50) : `v${pick(1000)}`), stamp);
          break;
        case 1:
          m = remove(prev, stamp);
          break;
        case 2:
        case 3:
          m = increment(prev, BigInt(pick(21) - 10), stamp);
          break;
        case 4:
          m = setAdd(prev, element, stamp);
          break;
        default:
          m = setRemove(prev, element, stamp);
      }
    } catch (err) {
      if (!isCrdtError(err)) throw err; // WRONG_TYPE, NOT_A_NUMBER, OVERFLOW: the client gets an error
      stats.rejected++;
      return;
    }
    stats.ops++;
    if (m.entry === prev) return;
    r.store.set(key, m.entry);
    r.tree.upsert(Buffer.from(key, 'hex'), entryDigest(m.entry));
    const list = allChanges.get(key) ?? [];
    list.push(m.change);
    allChanges.set(key, list);
    publish(i, key, m.change);
  };

  const deliverSome = (): void => {
    for (let n = pick(10); n > 0 && network.length > 0; n--) {
      const [msg] = network.splice(pick(network.length), 1); // any order
      if (cut(msg!.from, msg!.to) || rand() < 0.2) {
        stats.dropped++;
        continue;
      }
      if (rand() < 0.1) {
        network.push(msg!); // delivered again later
        stats.duplicated++;
      }
      apply(replicas[msg!.to]!, msg!.key, msg!.change);
      stats.delivered++;
    }
  };

  /** Both sides send each other their current entries for the keys the descent found. */
  const exchange = (a: number, b: number, keysFound: Uint8Array[], send: (from: number, to: number, key: string, e: Entry) => void): void => {
    for (const k of keysFound) {
      const key = hex(k);
      const ea = replicas[a]!.store.get(key);
      const eb = replicas[b]!.store.get(key);
      if (ea !== undefined) send(a, b, key, ea);
      if (eb !== undefined) send(b, a, key, eb);
    }
  };

  /** One round trip of a session in flight, over the unreliable network; false = gone. */
  const stepSync = (s: Sync): boolean => {
    try {
      const req = s.session.nextRequest();
      if (req === null) {
        const d = s.session.result();
        exchange(s.a, s.b, [...d.localOnly, ...d.remoteOnly, ...d.different], (from, to, key, e) => network.push({ from, to, key, change: e }));
        stats.syncsDone++;
        return false;
      }
      if (cut(s.a, s.b) || rand() < 0.1) throw new Error('request or reply lost: the session times out');
      const wire = encodeResponse(replicas[s.b]!.served.serve(decodeRequest(encodeRequest(req))));
      s.session.receive(req, decodeResponse(wire));
      return true;
    } catch (err) {
      if (!(isMstError(err) || (err instanceof Error && err.message.includes('session times out')))) throw err;
      stats.syncsFailed++;
      return false;
    }
  };

  // --- chaos: writes, lossy delivery, partitions, and anti-entropy sessions racing the writes ---
  for (let step = 0; step < STEPS; step++) {
    now += pick(5);
    if (partition !== null && step >= partition.until) partition = null;
    if (partition === null && rand() < 0.004) {
      const side = new Set<number>();
      for (let i = 0; i < REPLICAS; i++) if (rand() < 0.5) side.add(i);
      if (side.size > 0 && side.size < REPLICAS) partition = { side, until: step + 50 + pick(300) };
    }
    for (let n = pick(3); n > 0; n--) localOp(pick(REPLICAS));
    deliverSome();
    if (rand() < 0.03) {
      const a = pick(REPLICAS);
      const b = (a + 1 + pick(REPLICAS - 1)) % REPLICAS;
      const root = replicas[b]!.served.remember(replicas[b]!.tree);
      syncs.push({ a, b, session: new DiffSession(replicas[a]!.tree, root, { maxBatch: 1 + pick(8) }) });
    }
    for (let i = syncs.length - 1; i >= 0; i--) if (!stepSync(syncs[i]!)) syncs.splice(i, 1);
  }

  // --- repair: the network heals and goes quiet; pairwise descents until nothing differs ---
  partition = null;
  network.length = 0; // whatever is still in flight is lost
  for (;;) {
    stats.repairRounds++;
    let differences = 0;
    for (let a = 0; a < REPLICAS; a++) {
      for (let b = 0; b < REPLICAS; b++) {
        if (a === b) continue;
        const root = replicas[b]!.served.remember(replicas[b]!.tree);
        const session = new DiffSession(replicas[a]!.tree, root);
        for (let req = session.nextRequest(); req !== null; req = session.nextRequest()) {
          session.receive(req, decodeResponse(encodeResponse(replicas[b]!.served.serve(decodeRequest(encodeRequest(req))))));
        }
        const d = session.result();
        const found = [...d.localOnly, ...d.remoteOnly, ...d.different];
        differences += found.length;
        exchange(a, b, found, (_from, to, key, e) => apply(replicas[to]!, key, e));
      }
    }
    if (differences === 0) break;
    if (stats.repairRounds > 5) throw new Error(`seed ${seed}: repair does not converge (${differences} differences left)`);
  }

  // --- convergence ---
  const [first, ...rest] = replicas;
  const rootHex = hex(first!.tree.root());
  for (const r of rest) {
    expect({ seed, replica: r.id, root: hex(r.tree.root()) }).toEqual({ seed, replica: r.id, root: rootHex });
    expect(r.store.size).toBe(first!.store.size);
  }
  for (const r of replicas) {
    // The tree is exactly the store: same keys, same digests as a fresh build.
    const fresh = MerkleSearchTree.fromEntries([...r.store].map(([k, e]) => [Buffer.from(k, 'hex'), entryDigest(e)] as const));
    expect(hex(fresh.root())).toBe(rootHex);
  }
  // Every replica holds exactly the join of every change ever made (merge in production order).
  expect(first!.store.size).toBe(allChanges.size);
  for (const [key, changes] of allChanges) {
    const join = changes.reduce<Entry | undefined>((acc, c) => merge(acc, c), undefined)!;
    for (const r of replicas) expect({ seed, key, digest: hex(entryDigest(r.store.get(key)!)) }).toEqual({ seed, key, digest: hex(entryDigest(join)) });
  }
  // The run must have exercised what it claims to.
  expect(stats.ops).toBeGreaterThan(STEPS / 2);
  expect(stats.dropped).toBeGreaterThan(0);
  expect(stats.duplicated).toBeGreaterThan(0);
  expect(stats.syncsDone).toBeGreaterThan(0);
  if (LONG || process.env.MERKLEKV_SIM_VERBOSE === '1') process.stderr.write(`simulation seed ${seed}: ${JSON.stringify(stats)}\n`);
}

describe(`simulation: ${REPLICAS} replicas over a lossy network, repaired by MST descent`, () => {
  it.each(SEEDS)('seed %i converges', (seed) => simulate(seed), LONG ? 600_000 : 30_000);
});
