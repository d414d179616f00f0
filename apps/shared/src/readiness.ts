import { type NodeLifecycle } from './lifecycle.js';

/** One condition for taking requests, named in `/readyz`'s answer. */
export interface ReadinessCheck {
  readonly name: string;
  /** Undefined while it holds; otherwise why not. */
  problem(): string | undefined;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly status: 'ready' | 'starting' | 'stopping' | 'unready';
  /** The checks that do not hold, by name. */
  readonly problems: Readonly<Record<string, string>>;
}

/**
 * Whether this process should get traffic: it has started (storage open, listeners bound), is
 * not stopping, and every check the modules registered holds (NATS connected, the stream and
 * consumer there, the outbox not growing without bound...).
 */
export class Readiness {
  readonly #checks: ReadinessCheck[] = [];

  constructor(private readonly lifecycle: NodeLifecycle) {}

  add(check: ReadinessCheck): void {
    this.#checks.push(check);
  }

  report(): ReadinessReport {
    const problems: Record<string, string> = {};
    for (const check of this.#checks) {
      const problem = check.problem();
      if (problem !== undefined) problems[check.name] = problem;
    }
    const status = this.lifecycle.isStopping ? 'stopping' : !this.lifecycle.isReady ? 'starting' : Object.keys(problems).length > 0 ? 'unready' : 'ready';
    return { ready: status === 'ready', status, problems };
  }
}
