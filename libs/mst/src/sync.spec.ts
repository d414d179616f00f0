import fc from 'fast-check';
import { diff, type KeyDiff } from './diff.js';
import { isMstError, MstError } from './errors.js';
import { EMPTY_ROOT } from './node.js';
import {
  decodeRequest,
  decodeResponse,
  DiffSession,
  type DiffSessionOptions,
  encodeRequest,
  encodeResponse,
  serveSummaries,
  SnapshotCache,
  summarize,
  type SummaryRequest,
  type SummaryResponse,
} from './sync.js';
import { asHex, expectedDiff, fanoutArb, mapPairArb, SEED } from './testing/arbitraries.js';
import { digestOf, encodePreimage, hex, sha256Of } from './testing/model.js';
import { MerkleSearchTree, treeStats } from './tree.js';
import { decodeNode, NodeSummary } from './wire.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

type Peer = (request: SummaryRequest) => SummaryResponse;

/** A peer that answers from the snapshot it announced, through the binary codec both ways. */
function peerOf(tree: MerkleSearchTree): { root: Uint8Array; peer: Peer; cache: SnapshotCache } {
  const cache = new SnapshotCache();
  const root = cache.remember(tree);
  return { root, cache, peer: (req) => decodeResponse(encodeResponse(cache.serve(decodeRequest(encodeRequest(req))))) };
}

function run(local: MerkleSearchTree, root: Uint8Array, peer: Peer, options: DiffSessionOptions = {}): { result: KeyDiff; session: DiffSession } {
  const session = new DiffSession(local, root, options);
  for (let req = session.nextRequest(); req !== null; req = session.nextRequest()) session.receive(req, peer(req));
  expect(session.done).toBe(true);
  return { result: session.result(), session };
}

describe('remote descent', () => {
  it('finds exactly the symmetric difference, and agrees with the local diff (properties)', () => {
    fc.assert(
      fc.property(mapPairArb, fanoutArb, fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), ([mine, theirs], fanout, maxBatch) => {
        const local = MerkleSearchTree.fromEntries(mine, { fanout });
        const remote = MerkleSearchTree.fromEntries(theirs, { fanout });
        const { root, peer } = peerOf(remote);
        const { result, session } = run(local, root, peer, maxBatch === undefined ? {} : { maxBatch });
        expect(asHex(result)).toEqual(expectedDiff(mine, theirs));
        expect(asHex(result)).toEqual(asHex(diff(local, remote)));
        // One request per depth of the peer's tree when batches are not capped.
        if (maxBatch === undefined) expect(session.stats.requests).toBeLessThanOrEqual(treeStats(remote).height);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('works with requests in flight concurrently and answered out of order', () => {
    fc.assert(
      fc.property(mapPairArb, fc.integer({ min: 1, max: 3 }), fc.infiniteStream(fc.nat()), ([mine, theirs], maxBatch, picks) => {
        const local = MerkleSearchTree.fromEntries(mine, { fanout: 4 });
        const remote = MerkleSearchTree.fromEntries(theirs, { fanout: 4 });
        const { root, peer } = peerOf(remote);
        const session = new DiffSession(local, root, { maxBatch });
        const inFlight: SummaryRequest[] = [];
        const pick = picks[Symbol.iterator]();
        while (!session.done) {
          for (let req = session.nextRequest(); req !== null; req = session.nextRequest()) inFlight.push(req);
          const [req] = inFlight.splice(pick.next().value! % inFlight.length, 1);
          session.receive(req!, peer(req!));
        }
        expect(asHex(session.result())).toEqual(expectedDiff(mine, theirs));
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('needs no request when the roots agree, and none to learn that the peer is empty', () => {
    const t = MerkleSearchTree.fromEntries([[utf8('a'), digestOf('1')]]);
    const same = new DiffSession(t, t.root());
    expect(same.done).toBe(true);
    expect(same.nextRequest()).toBeNull();
    const empty = new DiffSession(t, EMPTY_ROOT);
    expect(empty.nextRequest()).toBeNull();
    expect(asHex(empty.result())).toEqual({ localOnly: [hex(utf8('a'))], remoteOnly: [], different: [] });
  });

  it('syncs a 20k-key tree into an empty replica in height-many round trips', () => {
    const entries = Array.from({ length: 20000 }, (_, i) => [utf8(`key:${i}`), digestOf(`${i}`)] as [Uint8Array, Uint8Array]);
    const remote = MerkleSearchTree.fromEntries(entries);
    const { root, peer } = peerOf(remote);
    const { result, session } = run(new MerkleSearchTree(), root, peer);
    expect(result.remoteOnly).toHaveLength(20000);
    expect(session.stats.requests).toBe(treeStats(remote).height);
    expect(session.stats.summaries).toBe(treeStats(remote).nodes);
  });

  it('fetches only the paths of the differing keys', () => {
    const entries = Array.from({ length: 20000 }, (_, i) => [utf8(`key:${i}`), digestOf(`${i}`)] as [Uint8Array, Uint8Array]);
    const local = MerkleSearchTree.fromEntries(entries);
    const remote = local.snapshot();
    remote.upsert(utf8('key:123'), digestOf('changed'));
    remote.remove(utf8('key:9999'));
    remote.upsert(utf8('key:extra'), digestOf('new'));
    const { root, peer } = peerOf(remote);
    const { result, session } = run(local, root, peer);
    expect(asHex(result)).toEqual({ localOnly: [hex(utf8('key:9999'))], remoteOnly: [hex(utf8('key:extra'))], different: [hex(utf8('key:123'))] });
    expect(session.stats.summaries).toBeLessThanOrEqual(3 * treeStats(remote).height);
  });

  it('descends the announced version while the peer keeps writing', () => {
    const entries = Array.from({ length: 5000 }, (_, i) => [utf8(`k${i}`), digestOf(`${i}`)] as [Uint8Array, Uint8Array]);
    const local = MerkleSearchTree.fromEntries(entries);
    const remote = MerkleSearchTree.fromEntries(entries.slice(0, 4000));
    const announced = remote.snapshot();
    const { root, peer } = peerOf(remote);
    const session = new DiffSession(local, root);
    let round = 0;
    for (let req = session.nextRequest(); req !== null; req = session.nextRequest()) {
      // The peer's shard keeps writing; the cache keeps serving the announced snapshot.
      for (let i = 0; i < 500; i++) remote.upsert(utf8(`w${round}-${i}`), digestOf('w'));
      round++;
      session.receive(req, peer(req));
    }
    expect(asHex(session.result())).toEqual(asHex(diff(local, announced)));
  });

  it('an unknown root or a vanished node is STALE, and the session is over', () => {
    const local = MerkleSearchTree.fromEntries([[utf8('a'), digestOf('1')]]);
    const remote = MerkleSearchTree.fromEntries([[utf8('b'), digestOf('2')]]);
    const session = new DiffSession(local, remote.root());
    const req = session.nextRequest()!;
    expect(() => session.receive(req, new SnapshotCache().serve(req))).toThrow(expect.objectContaining({ code: 'STALE' }));
    expect(() => session.nextRequest()).toThrow(expect.objectContaining({ code: 'STATE' }));
    expect(() => session.result()).toThrow(expect.objectContaining({ code: 'STATE' }));
    // Served from a tree that is not the announced one: nothing matches, everything is null.
    expect(serveSummaries(local, req).nodes).toEqual([null]);
  });

  it('misuse is a STATE error', () => {
    const local = MerkleSearchTree.fromEntries([[utf8('a'), digestOf('1')]]);
    const remote = MerkleSearchTree.fromEntries([[utf8('b'), digestOf('2')]]);
    const session = new DiffSession(local, remote.root());
    expect(() => session.result()).toThrow(expect.objectContaining({ code: 'STATE' }));
    const req = session.nextRequest()!;
    expect(() => session.receive({ root: req.root, refs: [...req.refs] }, { nodes: [] })).toThrow(expect.objectContaining({ code: 'STATE' }));
    expect(() => new DiffSession(local, new Uint8Array(31))).toThrow(MstError);
    expect(() => new DiffSession(local, remote.root(), { maxBatch: 0 })).toThrow(MstError);
  });
});

describe('a peer that lies', () => {
  // Keys with known layers at fanout 16 (atproto vectors): 'blue' layer 0, '88bfafc7' layer 1.
  const d = digestOf('d');
  const hostile = (nodes: Buffer[]): Peer => {
    const byHash = new Map(nodes.map((b) => [hex(sha256Of(b)), b]));
    return (req) => ({ nodes: req.refs.map((r) => (byHash.has(hex(r.hash)) ? decodeNode(byHash.get(hex(r.hash))!) : null)) });
  };
  const fail = (root: Uint8Array, peer: Peer, local = new MerkleSearchTree()): unknown => {
    try {
      run(local, root, peer);
    } catch (err) {
      return err;
    }
    return undefined;
  };

  it('a summary that does not hash to what was asked', () => {
    const a = MerkleSearchTree.fromEntries([[utf8('a'), d]]);
    const b = MerkleSearchTree.fromEntries([[utf8('b'), d]]);
    const err = fail(b.root(), () => ({ nodes: [summarize(a, { hash: a.root(), lo: null })!] }));
    expect(err).toMatchObject({ code: 'PROTOCOL' });
  });

  it('a summary carrying a forged hash', () => {
    const a = MerkleSearchTree.fromEntries([[utf8('a'), d]]);
    const b = MerkleSearchTree.fromEntries([[utf8('b'), d]]);
    const forged = new NodeSummary(summarize(a, { hash: a.root(), lo: null })!.bytes, b.root(), null);
    expect(hex(forged.hash)).toBe(hex(b.root()));
    expect(fail(b.root(), () => ({ nodes: [forged] }))).toMatchObject({ code: 'PROTOCOL' });
  });

  it('the wrong number of summaries', () => {
    const b = MerkleSearchTree.fromEntries([[utf8('b'), d]]);
    expect(fail(b.root(), () => ({ nodes: [] }))).toMatchObject({ code: 'PROTOCOL' });
  });

  it('a key outside the range its parent gives it', () => {
    const child = encodePreimage(0, [utf8('blue')], [d], [null, null]);
    const root = encodePreimage(1, [utf8('88bfafc7')], [d], [sha256Of(child), null]); // 'blue' > '88bfafc7'
    expect(fail(sha256Of(root), hostile([root, child]))).toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/above its node range/) });
  });

  it('a child on a layer not below its parent', () => {
    const child = encodePreimage(0, [utf8('asdf')], [d], [null, null]);
    const root = encodePreimage(0, [utf8('blue')], [d], [sha256Of(child), null]);
    expect(fail(sha256Of(root), hostile([root, child]))).toMatchObject({ code: 'PROTOCOL' });
  });

  it('a peer with another fanout', () => {
    const entries = Array.from({ length: 200 }, (_, i) => [utf8(`k${i}`), d] as [Uint8Array, Uint8Array]);
    const remote = MerkleSearchTree.fromEntries(entries, { fanout: 4 });
    const { root, peer } = peerOf(remote);
    expect(fail(root, peer)).toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/fanout/) });
  });
});

describe('wire format', () => {
  const remote = MerkleSearchTree.fromEntries(Array.from({ length: 300 }, (_, i) => [utf8(`k${i}`), digestOf(`${i}`)] as [Uint8Array, Uint8Array]), { fanout: 4 });
  const local = MerkleSearchTree.fromEntries(Array.from({ length: 290 }, (_, i) => [utf8(`k${i * 2}`), digestOf(`${i}`)] as [Uint8Array, Uint8Array]), { fanout: 4 });
  const { root, cache } = peerOf(remote);
  // A request and its answer from the middle of a real descent (several refs, some with bounds).
  const session = new DiffSession(local, root);
  let req = session.nextRequest()!;
  session.receive(req, cache.serve(req));
  req = session.nextRequest()!;
  const reqBytes = encodeRequest(req);
  const respBytes = encodeResponse(cache.serve(req));

  it('round-trips long bounds', () => {
    const refs = Array.from({ length: 5 }, (_, i) => ({ hash: digestOf(`${i}`), lo: new Uint8Array(300 + i).fill(i) }));
    const back = decodeRequest(encodeRequest({ root: EMPTY_ROOT, refs }));
    expect(back.refs.map((r) => r.lo && hex(r.lo))).toEqual(refs.map((r) => hex(r.lo)));
  });

  it('round-trips requests and responses', () => {
    expect(req.refs.length).toBeGreaterThan(1);
    expect(req.refs.some((r) => r.lo === null) && req.refs.some((r) => r.lo !== null)).toBe(true);
    const back = decodeRequest(reqBytes);
    expect(hex(back.root)).toBe(hex(req.root));
    expect(back.refs.map((r) => [hex(r.hash), r.lo && hex(r.lo)])).toEqual(req.refs.map((r) => [hex(r.hash), r.lo && hex(r.lo)]));
    const resp = decodeResponse(respBytes);
    expect(resp.nodes.map((s) => s && hex(s.hash))).toEqual(cache.serve(req).nodes.map((s) => s && hex(s.hash)));
    expect(encodeResponse(resp)).toEqual(respBytes);
    const missing = encodeResponse({ nodes: [null, null] });
    expect(decodeResponse(missing).nodes).toEqual([null, null]);
  });

  it('every truncation and every trailing byte is a DECODE error', () => {
    for (const [bytes, decode] of [
      [reqBytes, decodeRequest],
      [respBytes, decodeResponse],
    ] as const) {
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(() => decode(bytes.subarray(0, cut))).toThrow(expect.objectContaining({ code: 'DECODE' }));
      }
      expect(() => decode(new Uint8Array([...bytes, 0]))).toThrow(expect.objectContaining({ code: 'DECODE' }));
    }
  });

  it('any corrupted byte is an MstError, never a crash and never a wrong result', () => {
    const expected = asHex(diff(local, remote));
    for (let at = 0; at < respBytes.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = respBytes.slice();
        bad[at] = bad[at]! ^ flip;
        const s = new DiffSession(local, root);
        const r1 = s.nextRequest()!;
        s.receive(r1, cache.serve(r1));
        const r2 = s.nextRequest()!;
        try {
          s.receive(r2, decodeResponse(bad));
        } catch (err) {
          expect(isMstError(err)).toBe(true);
          continue;
        }
        for (let r = s.nextRequest(); r !== null; r = s.nextRequest()) s.receive(r, cache.serve(r));
        expect(asHex(s.result())).toEqual(expected);
      }
    }
  });

  it('random bytes never crash the decoders', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(0x51, 0x52), (body, kind) => {
        for (const bytes of [body, new Uint8Array([1, kind, ...body])]) {
          for (const decode of [decodeRequest, decodeResponse, (b: Uint8Array) => decodeNode(b)]) {
            try {
              decode(bytes);
            } catch (err) {
              expect(isMstError(err)).toBe(true);
            }
          }
        }
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('hostile counts and lengths fail before allocating', () => {
    const huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
    expect(() => decodeResponse(new Uint8Array([1, 0x52, ...huge]))).toThrow(/node count/);
    expect(() => decodeRequest(new Uint8Array([1, 0x51, ...new Array<number>(32).fill(0), ...huge]))).toThrow(/ref count/);
    expect(() => decodeNode(new Uint8Array([0, ...huge]))).toThrow(/key count/);
    expect(() => decodeNode(new Uint8Array([0, 1, ...huge, ...new Array<number>(40).fill(0)]))).toThrow(/key length/);
    expect(() => decodeNode(new Uint8Array([0, 0x81, 0x00]))).toThrow(/non-minimal/);
    expect(() => decodeNode(new Uint8Array([0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(/too long/);
    expect(() => decodeResponse(new Uint8Array([2, 0x52, 0]))).toThrow(/version/);
    expect(() => decodeResponse(new Uint8Array([1, 0x51, 0]))).toThrow(/kind/);
    expect(() => decodeRequest(new Uint8Array([1, 0x51, ...new Array<number>(32).fill(0), 1, ...new Array<number>(32).fill(0), 2]))).toThrow(/bound flag/);
    expect(() => decodeResponse(new Uint8Array([1, 0x52, 1, 7]))).toThrow(/node flag/);
    const long = encodePreimage(0, [new Uint8Array(100)], [digestOf('x')], [null, null]);
    expect(() => decodeNode(long, { maxKeyBytes: 99 })).toThrow(/key length/);
    expect(decodeNode(long, { maxKeyBytes: 100 }).keys[0]).toHaveLength(100);
    expect(() => decodeNode(encodePreimage(0, [utf8('b'), utf8('a')], [digestOf('1'), digestOf('2')], [null, null, null]))).toThrow(/ascending/);
    expect(() => decodeNode(encodePreimage(0, [], [], [null]))).toThrow(/at least one key/);
    expect(() => decodeRequest(encodeRequest({ root: EMPTY_ROOT, refs: new Array(10).fill({ hash: EMPTY_ROOT, lo: null }) }), { maxRefs: 9 })).toThrow(/ref count/);
  });

  it('a summary exposes what its hash commits to', () => {
    const s = summarize(remote, { hash: remote.root(), lo: null })!;
    const d = decodeNode(s.bytes);
    expect(hex(d.hash)).toBe(hex(remote.root()));
    expect(d.keys.map(hex)).toEqual(s.keys.map(hex));
    expect(d.children.map((c) => c && hex(c))).toEqual(s.children.map((c) => c && hex(c)));
    expect(d.layer).toBe(s.layer);
    expect(d.digests.map(hex)).toEqual(s.digests.map(hex));
    expect(summarize(remote, { hash: digestOf('nope'), lo: null })).toBeUndefined();
  });
});

describe('snapshot cache', () => {
  it('keeps the most recent versions only', () => {
    const t = new MerkleSearchTree();
    const cache = new SnapshotCache(2);
    const roots = [0, 1, 2].map((i) => {
      t.upsert(utf8(`k${i}`), digestOf(`${i}`));
      return cache.remember(t);
    });
    expect(cache.get(roots[0]!)).toBeUndefined();
    expect(hex(cache.get(roots[1]!)!.root())).toBe(hex(roots[1]!));
    expect(cache.get(roots[2]!)!.size).toBe(3);
  });
});
