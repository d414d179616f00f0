import { AntiEntropyCoordinator, type RoundCandidate } from './coordinator.js';

const member = (id: string, overrides: Partial<RoundCandidate> = {}): RoundCandidate => ({ id, alive: true, fullReplica: true, ...overrides });
const idle = (): boolean => false;

/** A clock the test moves, and a sequence of "random" draws. */
function fixture(options: { intervalMs?: number; staticPeers?: string[]; draws?: number[] } = {}) {
  let now = 1_000;
  const draws = [...(options.draws ?? [])];
  const coordinator = new AntiEntropyCoordinator({
    intervalMs: options.intervalMs ?? 30_000,
    staticPeers: options.staticPeers ?? [],
    now: () => now,
    random: () => draws.shift() ?? 0.5,
  });
  return { coordinator, advance: (ms: number) => (now += ms) };
}

describe('AntiEntropyCoordinator', () => {
  it('waits about 2 s for the first round and about an interval after each, within ±20%', () => {
    const low = fixture({ draws: [0, 0] }).coordinator;
    expect(low.firstDelayMs()).toBe(1_600);
    expect(low.nextDelayMs()).toBe(24_000);
    const high = fixture({ draws: [0.999999, 0.999999] }).coordinator;
    expect(high.firstDelayMs()).toBeCloseTo(2_400, 0);
    expect(high.nextDelayMs()).toBeCloseTo(36_000, 0);
    // An interval shorter than the first delay starts sooner.
    expect(fixture({ intervalMs: 1_000, draws: [0.5] }).coordinator.firstDelayMs()).toBe(1_000);
  });

  it('picks the peer synced least recently, ties at random, and counts rounds', () => {
    const { coordinator, advance } = fixture({ draws: [0.9, 0.1, 0.5] });
    const members = [member('a'), member('b'), member('c')];
    // Never picked: all tie at 0; the draws rank b (0.1) before c (0.5) and a (0.9).
    expect(coordinator.choose(members, idle)).toEqual({ kind: 'member', id: 'b' });
    advance(10);
    const second = coordinator.choose(members, idle);
    advance(10);
    const third = coordinator.choose(members, idle);
    expect([second, third].map((t) => (t?.kind === 'member' ? t.id : undefined)).sort()).toEqual(['a', 'c']);
    advance(10);
    // Everyone was picked once: b, picked first, is the least recent.
    expect(coordinator.choose(members, idle)).toEqual({ kind: 'member', id: 'b' });
    expect(coordinator.rounds).toBe(4);
  });

  it('skips members that are not alive, hold some shards only, or have a session running', () => {
    const { coordinator } = fixture();
    const members = [member('dead', { alive: false }), member('part', { fullReplica: false }), member('busy'), member('ok')];
    expect(coordinator.choose(members, (peer) => peer === 'busy')).toEqual({ kind: 'member', id: 'ok' });
    expect(coordinator.choose(members.slice(0, 3), (peer) => peer === 'busy')).toBeUndefined();
    expect(coordinator.rounds).toBe(1);
  });

  it('takes static peers in turn with the members', () => {
    const { coordinator, advance } = fixture({ staticPeers: ['10.0.0.9:7379'], draws: [0.2, 0.1] });
    expect(coordinator.choose([member('a')], idle)).toEqual({ kind: 'static', address: '10.0.0.9:7379' });
    advance(10);
    expect(coordinator.choose([member('a')], idle)).toEqual({ kind: 'member', id: 'a' });
  });

  it('runs a requested peer only when it qualifies', () => {
    const { coordinator } = fixture({ staticPeers: ['10.0.0.9:7379'] });
    const members = [member('a'), member('b', { alive: false })];
    expect(coordinator.choose(members, idle, 'a')).toEqual({ kind: 'member', id: 'a' });
    expect(coordinator.choose(members, idle, 'b')).toBeUndefined();
    expect(coordinator.choose(members, idle, 'zz')).toBeUndefined();
    expect(coordinator.choose(members, (peer) => peer === 'a', 'a')).toBeUndefined();
    expect(coordinator.rounds).toBe(1);
  });
});
