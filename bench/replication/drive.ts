/**
 * Drives writes into a target (MerkleKV over TCP, or raw JetStream) in the two shapes of the
 * benchmark, and waits for them to arrive everywhere:
 *
 * - paced: open loop at a fixed rate (RatePacer), whatever the replies do; an unrecorded
 *   warm-up, then the measured window;
 * - full speed: closed loop, `lanes` writes in flight, each reply sending the next.
 *
 * Every write gets a fresh sequence number from the target's book; the phase is the range of
 * sequence numbers it issued, and the window is the span of acknowledgement times measured.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { measureProcessesCpu } from '../lib/proc-cpu.js';
import { RatePacer, operationsFor } from '../lib/rate-pacer.js';
import { type SampleBook } from './samples.js';

const BASE = process.hrtime.bigint();

/** Milliseconds on this process's monotonic clock (`process.hrtime.bigint()`). */
export const nowMs = (): number => Number(process.hrtime.bigint() - BASE) / 1e6;

export interface WriteTarget {
  readonly name: string;
  readonly book: SampleBook;
  /** Lanes the target spreads paced writes over (its connections); 1 when it does not matter. */
  readonly lanes: number;
  /**
   * Issues write `seq` on `lane` (the target records issue and acknowledgement times in its
   * book); `done` runs once the write is acknowledged or failed.
   */
  send(seq: number, lane: number, done: () => void): void;
  /** Writes issued but not answered yet. */
  readonly inFlight: number;
  /** Failed writes (error replies, failed publishes). */
  readonly failures: number;
}

export interface PhaseResult {
  readonly from: number;
  readonly to: number;
  readonly window: { readonly startMs: number; readonly endMs: number };
  /** CPU this process used during the phase, in cores. */
  readonly benchCpu: number;
  /** This process's event-loop delay p99 during the phase, ms: how late its timestamps can be. */
  readonly loopDelayP99Ms: number;
  /** Cores each server process used during the phase (where /proc can tell). */
  readonly serversCpu: Record<string, number>;
  /** Milliseconds from the end of issuing until every write was seen (or the drain gave up). */
  readonly drainMs: number;
}

export interface DrainOptions {
  /** Server processes whose CPU use to report per phase, by name. */
  readonly pids?: Readonly<Record<string, number>>;
  /** Give up once nothing new has been seen for this long (default 10 s). */
  readonly quietMs?: number;
  readonly progress?: (message: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const LOOP_RESOLUTION_MS = 10;

/** Samples this process's CPU and event-loop delay, and the servers' CPU, over a phase. */
function probeProcess(pids: Readonly<Record<string, number>> = {}): () => { benchCpu: number; loopDelayP99Ms: number; serversCpu: Record<string, number> } {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const servers = measureProcessesCpu(pids);
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  return () => {
    loop.disable();
    const used = process.cpuUsage(cpu);
    // The histogram records the intervals of a `resolution` timer: the delay is what exceeds it.
    const delayMs = Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS);
    return {
      benchCpu: Math.round(((used.user + used.system) / 1000 / (performance.now() - wall)) * 100) / 100,
      loopDelayP99Ms: Math.round(delayMs * 1000) / 1000,
      serversCpu: servers(),
    };
  };
}

/**
 * Waits until every acknowledged write of [from, to) has been seen by every observer, or until
 * nothing new has been seen for `quietMs` (what is missing then is lost). First waits for the
 * writes still in flight, with the same patience.
 */
async function drain(target: WriteTarget, from: number, to: number, options: DrainOptions): Promise<number> {
  const quietMs = options.quietMs ?? 10_000;
  const started = nowMs();
  let lastProgress = started;
  let lastInFlight = target.inFlight;
  while (target.inFlight > 0) {
    if (target.inFlight !== lastInFlight) {
      lastInFlight = target.inFlight;
      lastProgress = nowMs();
    } else if (nowMs() - lastProgress > quietMs) {
      options.progress?.(`${target.name}: ${target.inFlight} writes never answered`);
      break;
    }
    await sleep(5);
  }
  let lastReport = nowMs();
  for (;;) {
    const missing = target.book.outstanding(from, to);
    if (missing === 0) break;
    const now = nowMs();
    const lastSeen = target.book.lastSeenMs;
    if (!Number.isNaN(lastSeen) && lastSeen > lastProgress) lastProgress = lastSeen;
    if (now - lastProgress > quietMs) {
      options.progress?.(`${target.name}: ${missing} sightings missing after ${quietMs} ms without progress`);
      break;
    }
    if (now - lastReport > 2000) {
      options.progress?.(`${target.name}: draining, ${missing} sightings to go`);
      lastReport = now;
    }
    await sleep(missing > 1000 ? 20 : 2);
  }
  return nowMs() - started;
}

export interface PacedOptions extends DrainOptions {
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /**
   * Called once when the measured window starts (the first tick at or after the warm-up) and
   * once when it ends (the last write issued), e.g. to read the servers' counters at its edges.
   */
  readonly onWindow?: (edge: 'start' | 'end') => void;
}

/** Open loop at `rate` writes/s: warm-up, then the measured window; then drains. */
export async function runPaced(target: WriteTarget, options: PacedOptions): Promise<PhaseResult> {
  const probe = probeProcess(options.pids);
  const from = target.book.size;
  const start = nowMs();
  const total = operationsFor(options.rate, (options.warmupMs + options.durationMs) / 1000);
  const pacer = new RatePacer(options.rate, start, total);
  const window = { startMs: start + options.warmupMs, endMs: start + options.warmupMs + options.durationMs };
  let issued = 0;
  let windowStarted = false;
  const noop = (): void => undefined;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = nowMs();
      if (!windowStarted && now >= window.startMs) {
        windowStarted = true;
        options.onWindow?.('start');
      }
      const due = pacer.dueBy(now);
      while (issued < due) {
        const seq = from + issued;
        target.send(seq, seq % target.lanes, noop);
        issued += 1;
      }
      if (pacer.done(issued)) {
        if (!windowStarted) options.onWindow?.('start');
        options.onWindow?.('end');
        resolve();
        return;
      }
      // Timers fire at best every millisecond: at rates above 1000/s a tick sends a few writes.
      setTimeout(tick, Math.max(1, Math.floor(pacer.waitMs(issued, nowMs()))));
    };
    tick();
  });
  const to = from + issued;
  const drainMs = await drain(target, from, to, options);
  return { from, to, window, drainMs, ...probe() };
}

export interface ClosedLoopOptions extends DrainOptions {
  /** Writes in flight at once. */
  readonly inFlight: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** Closed loop: `inFlight` writes outstanding, each answer sending the next, until the window ends. */
export async function runClosedLoop(target: WriteTarget, options: ClosedLoopOptions): Promise<PhaseResult> {
  const probe = probeProcess(options.pids);
  const from = target.book.size;
  let next = from;
  let running = true;
  const start = nowMs();
  const window = { startMs: start + options.warmupMs, endMs: start + options.warmupMs + options.durationMs };
  const lane = (slot: number): (() => void) => {
    const again = (): void => {
      if (!running) return;
      const seq = next;
      next += 1;
      target.send(seq, slot % target.lanes, again);
    };
    return again;
  };
  for (let slot = 0; slot < options.inFlight; slot += 1) lane(slot)();
  await sleep(options.warmupMs + options.durationMs);
  running = false;
  const to = next;
  const drainMs = await drain(target, from, to, options);
  return { from, to, window, drainMs, ...probe() };
}
