/**
 * Turns analyses into the benchmark's JSON figures: milliseconds rounded to the microsecond,
 * and the ratio of the p99s that the goal is stated in.
 */
import { type Analysis, type LatencySummary } from './samples.js';

export const GOAL = { p99_ratio: 1.5 } as const;

/** Milliseconds rounded to 3 decimals; null for "no value" (JSON has no NaN). */
export function ms(value: number): number | null {
  return Number.isFinite(value) ? Math.round(value * 1000) / 1000 : null;
}

/** a / b rounded to 3 decimals; null when it means nothing (no samples, or b is not above 0). */
export function ratio(a: number, b: number): number | null {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return Math.round((a / b) * 1000) / 1000;
}

function percentiles(prefix: string, s: LatencySummary): Record<string, number | null> {
  return { [`${prefix}p50_ms`]: ms(s.p50), [`${prefix}p99_ms`]: ms(s.p99), [`${prefix}max_ms`]: ms(s.max) };
}

/** MerkleKV's fixed-rate figures: acked-on-A to visible-on-B/C, then the rest. */
export function merklekvFigures(a: Analysis): Record<string, unknown> {
  return {
    ...percentiles('visible_', a.visible),
    visible_p90_ms: ms(a.visible.p90),
    visible_p999_ms: ms(a.visible.p999),
    visible_min_ms: ms(a.visible.min),
    samples: a.visible.count,
    negative: a.negative,
    lost: a.lost,
    writes: a.ackedInWindow,
    writes_s: Math.round(a.ackedPerSec),
    failed: a.unacked,
    ...percentiles('from_send_', a.visibleFromIssue),
    ack_p50_ms: ms(a.ack.p50),
    ack_p99_ms: ms(a.ack.p99),
  };
}

/** Raw JetStream's figures: publish-acked to consumed (p50_ms/p99_ms), publish start to consumed. */
export function jetstreamFigures(a: Analysis): Record<string, unknown> {
  return {
    ...percentiles('', a.visible),
    p90_ms: ms(a.visible.p90),
    p999_ms: ms(a.visible.p999),
    min_ms: ms(a.visible.min),
    samples: a.visible.count,
    negative: a.negative,
    lost: a.lost,
    messages: a.ackedInWindow,
    publish_s: Math.round(a.ackedPerSec),
    failed: a.unacked,
    ...percentiles('from_publish_start_', a.visibleFromIssue),
    publish_ack_p50_ms: ms(a.ack.p50),
    publish_ack_p99_ms: ms(a.ack.p99),
  };
}

/** The goal holds when the ratio is known and within it. */
export const goalMet = (p99Ratio: number | null): boolean => p99Ratio !== null && p99Ratio <= GOAL.p99_ratio;
