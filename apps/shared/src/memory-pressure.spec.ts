import { type HeapSample, MemoryPressure } from './memory-pressure.js';

describe('MemoryPressure', () => {
  const limitBytes = 1000 * 2 ** 20;
  let used = 0;
  let sheds = 0;
  const changes: boolean[] = [];
  const pressure = (): MemoryPressure =>
    new MemoryPressure({
      sample: (): HeapSample => ({ usedBytes: used * 2 ** 20, limitBytes }),
      shed: () => void sheds++,
      onChange: (active) => changes.push(active),
    });
  beforeEach(() => {
    used = 0;
    sheds = 0;
    changes.length = 0;
  });

  it('refuses from 85% of the heap limit, sheds on every check while it lasts, and takes work again under 70%', () => {
    const p = pressure();
    used = 840;
    p.check();
    expect(p.refusal).toBeUndefined();
    expect(sheds).toBe(0);
    used = 850;
    p.check();
    expect(p.refusal).toBe('memory pressure: the heap holds 850 MiB of its 1000 MiB limit; retry later');
    expect(sheds).toBe(1);
    // Between the marks it stays refused (no flapping), and keeps shedding.
    used = 750;
    p.check();
    expect(p.refusal).toBeDefined();
    expect(sheds).toBe(2);
    used = 700;
    p.check();
    expect(p.refusal).toBeUndefined();
    expect(changes).toEqual([true, false]);
  });

  it('refuses thresholds that would flap', () => {
    expect(() => new MemoryPressure({ shed: () => undefined, enterRatio: 0.7, leaveRatio: 0.8 })).toThrow(RangeError);
  });

  it('checks on its interval until stopped', async () => {
    let checks = 0;
    const p = new MemoryPressure({ sample: () => (checks++, { usedBytes: 0, limitBytes: limitBytes }), shed: () => undefined });
    p.watch(5);
    await new Promise((r) => setTimeout(r, 40));
    expect(checks).toBeGreaterThan(0);
    p.stop();
    const stoppedAt = checks;
    await new Promise((r) => setTimeout(r, 40));
    expect(checks).toBe(stoppedAt);
  });

  it('reads the real heap by default', () => {
    const p = new MemoryPressure({ shed: () => undefined });
    p.check();
    expect(p.refusal).toBeUndefined();
  });
});
