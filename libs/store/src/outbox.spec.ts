import { assign, type Entry, type Stamp } from '#crdt';
import { type PersistOp } from './engine.js';
import { MemoryEngine } from './memory-engine.js';
import { Outbox, type StoreChange } from './outbox.js';

const WINDOW = 4;
let wall = 1;
const stamp = (): Stamp => ({ hlc: { wall: wall++, logical: 0 }, node: 'a' });
const change = (key: string, value: string): StoreChange => ({ kind: 'entry', shard: 0, key, entry: assign(undefined, Buffer.from(value), stamp()).entry as Entry });
const valueOf = (c: StoreChange): string => (c.kind === 'entry' && c.entry.type === 'register' ? Buffer.from(c.entry.value).toString() : '?');

/** An outbox over a memory engine, written as the store writes it: stage, one batch, commit. */
function outboxOn(engine: MemoryEngine, nextSeq = 1n): { outbox: Outbox; commit(changes: StoreChange[]): Promise<void>; ack(seqs: bigint[]): Promise<void> } {
  const outbox = new Outbox(nextSeq, { records: (after, limit) => engine.outboxRecords(after, limit), span: () => engine.outboxSpan() }, WINDOW);
  return {
    outbox,
    async commit(changes) {
      const ops: PersistOp[] = [];
      for (const c of changes) outbox.stage(c, ops, c.kind === 'entry' ? c.entry.stamp.hlc : c.floor.hlc);
      await engine.write(ops, false);
      outbox.commit();
    },
    async ack(seqs) {
      await engine.write(outbox.remove(seqs), false);
    },
  };
}

describe('Outbox window', () => {
  it('keeps the oldest records in memory, stores the rest, and brings them back in seq order as acknowledgements come', async () => {
    const engine = new MemoryEngine();
    const { outbox, commit, ack } = outboxOn(engine);
    let appended = 0;
    outbox.onAppend(() => appended++);
    for (let i = 0; i < 10; i++) await commit([change(`k${i}`, `v${i}`)]);
    expect(outbox.depth).toBe(10);
    expect(engine.outboxSpan().count).toBe(10);

    const sent: string[] = [];
    let after = 0n;
    for (let round = 0; round < 10 && outbox.depth > 0; round++) {
      const batch = outbox.read(after, 100);
      expect(batch.length).toBeLessThanOrEqual(WINDOW);
      expect(batch.length).toBeGreaterThan(0);
      sent.push(...batch.map((r) => `${r.change.kind === 'entry' ? r.change.key : ''}`));
      after = batch[batch.length - 1]!.seq;
      const before = appended;
      await ack(batch.map((r) => r.seq));
      if (outbox.depth > 0) expect(appended).toBe(before + 1);
    }
    expect(sent).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
    expect(outbox.depth).toBe(0);
    expect(engine.outboxSpan().count).toBe(0);
  });

  it('reads one window at open and counts the rest', async () => {
    const engine = new MemoryEngine();
    const first = outboxOn(engine);
    for (let i = 0; i < 7; i++) await first.commit([change(`k${i}`, `v${i}`)]);
    const again = outboxOn(engine, first.outbox.sequence);
    again.outbox.restore();
    expect(again.outbox.depth).toBe(7);
    expect(again.outbox.read(0n, 100).map((r) => r.seq)).toEqual([1n, 2n, 3n, 4n]);
    await again.commit([change('new', 'x')]);
    expect(again.outbox.depth).toBe(8);
    // New records follow the stored ones: they do not jump the queue into the window.
    expect(again.outbox.read(0n, 100)).toHaveLength(WINDOW);
  });

  it('loads stored records beyond a lagging persisted sequence, and numbers new ones after them', async () => {
    const engine = new MemoryEngine();
    const first = outboxOn(engine);
    for (let i = 0; i < 3; i++) await first.commit([change(`k${i}`, `v${i}`)]);
    const again = outboxOn(engine, 1n);
    again.outbox.restore();
    expect(again.outbox.read(0n, 100).map((r) => r.seq)).toEqual([1n, 2n, 3n]);
    await again.commit([change('next', 'x')]);
    expect(again.outbox.read(3n, 100).map((r) => r.seq)).toEqual([4n]);
  });

  it('coalesces a key in memory, and sends a spilled change and a later one of its key both', async () => {
    const engine = new MemoryEngine();
    const { outbox, commit, ack } = outboxOn(engine);
    await commit([change('hot', 'a')]);
    await commit([change('hot', 'b')]);
    expect(outbox.depth).toBe(1);
    for (let i = 0; i < 3; i++) await commit([change(`k${i}`, 'x')]);
    await commit([change('late', 'first')]); // spilled: the window is full
    await commit([change('late', 'second')]);
    expect(outbox.depth).toBe(6);
    const seen: string[] = [];
    let after = 0n;
    while (outbox.depth > 0) {
      const batch = outbox.read(after, 100);
      for (const r of batch) if (r.change.kind === 'entry' && r.change.key === 'late') seen.push(valueOf(r.change));
      after = batch[batch.length - 1]!.seq;
      await ack(batch.map((r) => r.seq));
    }
    // The second is the merge of both states (a later stamp wins a register): receivers converge either way.
    expect(seen).toEqual(['first', 'second']);
  });
});
