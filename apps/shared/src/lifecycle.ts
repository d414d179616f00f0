/**
 * The node's run state as the adapters see it: readiness for `/readyz`, and the one way to ask
 * for a graceful shutdown (SHUTDOWN command, signals), which the process entry point performs.
 */
/** Where this node's listeners are reachable, once bound. */
export interface NodeAddresses {
  readonly merklekv: string;
  readonly http: string;
}

export class NodeLifecycle {
  readonly startedAt = Date.now();
  private ready = false;
  private bound: NodeAddresses | undefined;
  private readonly readyWaiters: (() => void)[] = [];
  private stopping = false;
  private shutdownHandler: (() => void) | undefined;

  get isReady(): boolean {
    return this.ready && !this.stopping;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Listeners are bound; services that announce the node's addresses may start. */
  markReady(addresses: NodeAddresses): void {
    this.ready = true;
    this.bound = addresses;
    for (const wake of this.readyWaiters.splice(0)) wake();
  }

  get addresses(): NodeAddresses | undefined {
    return this.bound;
  }

  /** Resolves once the node is ready, or once it is stopping (check `isReady`). */
  whenReady(): Promise<void> {
    return this.ready ? Promise.resolve() : new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  onShutdownRequest(handler: () => void): void {
    this.shutdownHandler = handler;
  }

  /** Deferred to the next turn so that the reply to the requesting command goes out first. */
  requestShutdown(): void {
    setImmediate(() => this.shutdownHandler?.());
  }

  /** The node is stopping: nothing waits any longer for it to become ready. */
  markStopping(): void {
    this.stopping = true;
    for (const wake of this.readyWaiters.splice(0)) wake();
  }
}
