import { type ClientInfo } from './command.js';

/** One live client connection, whatever its protocol. */
export class ClientHandle {
  private lastActive: number;

  constructor(
    readonly id: number,
    readonly addr: string,
    readonly protocol: string,
    private readonly connectedAt: number,
    private readonly registry: ClientRegistry,
  ) {
    this.lastActive = connectedAt;
  }

  touch(now: number): void {
    this.lastActive = now;
  }

  info(now: number): ClientInfo {
    return {
      id: this.id,
      addr: this.addr,
      ageSeconds: Math.floor((now - this.connectedAt) / 1000),
      idleSeconds: Math.floor((now - this.lastActive) / 1000),
    };
  }

  /** Idempotent: a socket may report both 'end' and 'close'. */
  release(): void {
    this.registry.release(this);
  }
}

/** Live connections, for CLIENT LIST and the connection counters of STATS. */
export class ClientRegistry {
  private readonly live = new Map<number, ClientHandle>();
  private nextId = 1;
  private total = 0;

  constructor(private readonly now: () => number = Date.now) {}

  register(addr: string, protocol: string): ClientHandle {
    const handle = new ClientHandle(this.nextId++, addr, protocol, this.now(), this);
    this.live.set(handle.id, handle);
    this.total++;
    return handle;
  }

  release(handle: ClientHandle): void {
    this.live.delete(handle.id);
  }

  list(): ClientInfo[] {
    const now = this.now();
    return [...this.live.values()].map((c) => c.info(now));
  }

  get activeCount(): number {
    return this.live.size;
  }

  /** Live connections per protocol. */
  activeByProtocol(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const client of this.live.values()) counts.set(client.protocol, (counts.get(client.protocol) ?? 0) + 1);
    return counts;
  }

  get totalCount(): number {
    return this.total;
  }

  clock(): number {
    return this.now();
  }
}
