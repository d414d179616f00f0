/**
 * Anti-entropy's telemetry, reported into by its coordinator: each session as a span, and the
 * counters an operator watches (sessions by outcome, keys repaired, bytes and round trips). Registered with every process's metrics, so the series exist (at 0)
 * before the first session.
 */
import { SpanKind } from '@opentelemetry/api';
import { LATENCY_BUCKETS, type Metrics } from './metrics.js';
import { ATTR, inSpan, SPAN } from './spans.js';
import { type Tracing } from './tracing.js';

export interface AntiEntropyTelemetry {
  /** Runs one sync session with `peer`, as a span; counts it by outcome and times it. */
  session<T>(peer: string, run: () => Promise<T>): Promise<T>;
  /** What one session moved: keys merged here (`pulled`) or on the peer (`pushed`), bytes, round trips. */
  completed(session: SessionFigures): void;
}

export interface SessionFigures {
  readonly keysPulled: number;
  readonly keysPushed: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly roundTrips: number;
}

export function antiEntropyTelemetry(metrics: Metrics, tracing: Tracing): AntiEntropyTelemetry {
  const sessions = metrics.counter({ name: 'anti_entropy_sessions_total', help: 'Anti-entropy sessions with a peer, by outcome.', labels: ['outcome'] });
  const ok = sessions.labels({ outcome: 'ok' });
  const failed = sessions.labels({ outcome: 'error' });
  const duration = metrics.histogram({ name: 'anti_entropy_session_duration_seconds', help: 'Anti-entropy session durations.', buckets: LATENCY_BUCKETS });
  const repaired = metrics.counter({ name: 'anti_entropy_keys_repaired_total', help: 'Keys repaired by anti-entropy: pulled (merged here) or pushed (sent to the peer).', labels: ['direction'] });
  const bytes = metrics.counter({ name: 'anti_entropy_bytes_total', help: 'Bytes of anti-entropy messages, sent or received.', labels: ['direction'] });
  const roundTrips = metrics.counter({ name: 'anti_entropy_round_trips_total', help: 'Request/reply round trips of anti-entropy sessions.' });
  const byDirection = {
    pulled: repaired.labels({ direction: 'pulled' }),
    pushed: repaired.labels({ direction: 'pushed' }),
    sent: bytes.labels({ direction: 'sent' }),
    received: bytes.labels({ direction: 'received' }),
  };
  const { tracer } = tracing;
  return {
    async session(peer, run) {
      const began = performance.now();
      const traced = tracing.enabled ? () => inSpan(tracer, SPAN.antiEntropySession, { kind: SpanKind.CLIENT, attributes: { [ATTR.peer]: peer } }, run) : run;
      try {
        const result = await traced();
        ok.inc();
        return result;
      } catch (err) {
        failed.inc();
        throw err;
      } finally {
        duration.observe((performance.now() - began) / 1000);
      }
    },
    completed(figures) {
      byDirection.pulled.inc(figures.keysPulled);
      byDirection.pushed.inc(figures.keysPushed);
      byDirection.sent.inc(figures.bytesSent);
      byDirection.received.inc(figures.bytesReceived);
      roundTrips.inc(figures.roundTrips);
    },
  };
}
