import { getHeapStatistics } from 'node:v8';

/** The JS heap in use and the most V8 will give before the process dies. */
export interface HeapSample {
  readonly usedBytes: number;
  readonly limitBytes: number;
}

export interface MemoryPressureOptions {
  /** Share of the heap limit in use from which new work is refused (default 0.85). */
  readonly enterRatio?: number;
  /** Share under which it is taken again (default 0.70): the gap keeps it from flapping. */
  readonly leaveRatio?: number;
  readonly sample?: () => HeapSample;
  /** Called on entering pressure, and on every check while it lasts: free what can be freed. */
  readonly shed: () => void;
  readonly onChange?: (active: boolean, sample: HeapSample) => void;
}

const v8Heap = (): HeapSample => {
  const heap = getHeapStatistics();
  return { usedBytes: heap.used_heap_size, limitBytes: heap.heap_size_limit };
};

const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MiB`;

/**
 * The last line of defence of a node whose memory is set by configuration: the keyspace lives on
 * disk, but huge values in flight, many connections or caches can still push the heap towards
 * V8's limit, where the process would die. Near the limit the node sheds its caches and refuses
 * new work with a clear error (clients retry); what it acknowledged is on disk already, and
 * control commands (PING, INFO, SHUTDOWN...) still answer.
 */
export class MemoryPressure {
  readonly #enterRatio: number;
  readonly #leaveRatio: number;
  readonly #sample: () => HeapSample;
  readonly #options: MemoryPressureOptions;
  #refusal: string | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryPressureOptions) {
    this.#enterRatio = options.enterRatio ?? 0.85;
    this.#leaveRatio = options.leaveRatio ?? 0.7;
    if (!(this.#leaveRatio < this.#enterRatio)) throw new RangeError('leaveRatio must be below enterRatio');
    this.#sample = options.sample ?? v8Heap;
    this.#options = options;
  }

  /** Why new work is refused now, or undefined. */
  get refusal(): string | undefined {
    return this.#refusal;
  }

  check(): void {
    const sample = this.#sample();
    const ratio = sample.usedBytes / sample.limitBytes;
    const active = this.#refusal !== undefined;
    if (!active && ratio < this.#enterRatio) return;
    if (active && ratio <= this.#leaveRatio) {
      this.#refusal = undefined;
      this.#options.onChange?.(false, sample);
      return;
    }
    this.#options.shed();
    if (!active) {
      this.#refusal = `memory pressure: the heap holds ${mib(sample.usedBytes)} of its ${mib(sample.limitBytes)} limit; retry later`;
      this.#options.onChange?.(true, sample);
    }
  }

  /** Checks every `intervalMs` until {@link stop}. */
  watch(intervalMs: number): void {
    this.stop();
    this.#timer = setInterval(() => this.check(), intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
