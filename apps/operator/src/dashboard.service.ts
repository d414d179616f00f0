import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { type ClusterPort } from '#commands';
import { type MetricsReading, type NodeSample, readMetrics, sampleBetween } from '#operator';
import { Store } from '#store';
import { Telemetry } from '#telemetry';
import { toHex } from '#mst';
import { CLUSTER_PORT } from '../../shared/src/tokens.js';

/** What a node tells its dashboards every second. */
export interface DashboardTick extends NodeSample {
  readonly nodeId: string;
  /**
   * A digest of all shard roots (equal on two nodes: they hold the same data), and each root's
   * first 8 hex digits; empty in ticks taken while no dashboard was open.
   */
  readonly rootsDigest: string;
  readonly roots: readonly string[];
  /** The node's view of its cluster (as `GET /v1/cluster`), or a standalone node's. */
  readonly cluster: object;
}

const SAMPLE_MS = 1000;
/** Ten minutes of samples: what a dashboard opened now plots at once. */
const HISTORY = 600;

/**
 * Samples the node once a second for its dashboards (`GET /` of the HTTP port): ops/s and
 * latency from its own metrics, replication lag and outbox depth, its shard roots and its view
 * of the cluster; keeps the last ten minutes and pushes each new tick to the open event streams.
 */
@Injectable()
export class DashboardService implements OnModuleInit, OnApplicationShutdown {
  private readonly history: DashboardTick[] = [];
  private readonly listeners = new Set<(tick: DashboardTick) => void>();
  private previous: MetricsReading | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(
    private readonly store: Store,
    private readonly telemetry: Telemetry,
    @Optional() @Inject(CLUSTER_PORT) private readonly cluster: ClusterPort | undefined,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.listeners.clear();
  }

  /** The ticks kept so far, oldest first. */
  recent(): readonly DashboardTick[] {
    return this.history;
  }

  /** Calls `listener` with every later tick; returns the unsubscribe function. */
  subscribe(listener: (tick: DashboardTick) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const reading = readMetrics(await this.telemetry.metrics.exposition(), Date.now());
      const previous = this.previous;
      this.previous = reading;
      if (!previous) return;
      // Roots only while a dashboard watches: asking for one brings the shard's tree up to date.
      const roots = this.listeners.size === 0 ? [] : Array.from({ length: this.store.shardCount }, (_, shard) => toHex(this.store.shardRoot(shard)));
      const tick: DashboardTick = {
        ...sampleBetween(previous, reading),
        nodeId: this.store.nodeId,
        rootsDigest: createHash('sha256').update(roots.join('')).digest('hex').slice(0, 16),
        roots: roots.map((root) => root.slice(0, 8)),
        cluster: this.cluster?.view() ?? { mode: 'standalone', node: { id: this.store.nodeId, replicating: false }, peers: [] },
      };
      this.history.push(tick);
      if (this.history.length > HISTORY) this.history.shift();
      for (const listener of this.listeners) listener(tick);
    } catch {
      // A store closing or a metric failing to render: the next second tries again.
    } finally {
      this.sampling = false;
    }
  }
}
