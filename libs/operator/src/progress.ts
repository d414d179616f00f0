/**
 * Progress of long work: on a terminal, one line redrawn in place (a bar when the total is
 * known, the rate, and the time left); elsewhere (a pipe, a log file, CI) a plain line every few
 * seconds, so that output stays readable when captured.
 */

export interface ProgressSink {
  /** True when the sink is a terminal that honours carriage returns. */
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** What is counted: `keys`, `entries`, `shards`... */
  readonly unit: string;
  /** The expected count, when known (the bar and the ETA need it). */
  readonly total?: number;
  /** What the work is: printed before the figures. */
  readonly label: string;
  readonly now?: () => number;
  /** Show the rate (default true; a count of seconds has none worth showing). */
  readonly rate?: boolean;
  /** Plain output: least time between two lines (default 2 s). */
  readonly plainIntervalMs?: number;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export class Progress {
  readonly #sink: ProgressSink;
  readonly #options: ProgressOptions;
  readonly #now: () => number;
  readonly #startedAt: number;
  #done = 0;
  #lastDrawAt = -Infinity;
  #finished = false;

  constructor(sink: ProgressSink, options: ProgressOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#startedAt = this.#now();
  }

  get done(): number {
    return this.#done;
  }

  /** Counts `n` more units done; redraws when due. */
  advance(n = 1): void {
    this.update(this.#done + n);
  }

  /** Sets the count done; redraws when due. */
  update(done: number): void {
    this.#done = done;
    const now = this.#now();
    const interval = this.#sink.isTTY ? REDRAW_MS : (this.#options.plainIntervalMs ?? 2000);
    if (now - this.#lastDrawAt < interval) return;
    this.#lastDrawAt = now;
    this.#draw(now, false);
  }

  /** Draws the final figures and ends the line. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#draw(this.#now(), true);
  }

  /** The line for the current figures (without a line end). */
  line(now = this.#now(), final = false): string {
    const { unit, total, label } = this.#options;
    const seconds = Math.max((now - this.#startedAt) / 1000, 1e-3);
    const rate = this.#done / seconds;
    const parts = [label];
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, this.#done / total);
      if (this.#sink.isTTY) {
        const filled = Math.round(fraction * BAR_WIDTH);
        parts.push(`[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`);
      }
      parts.push(`${(fraction * 100).toFixed(0)}%`, `${count(this.#done)}/${count(total)} ${unit}`);
    } else {
      parts.push(`${count(this.#done)} ${unit}`);
    }
    if (this.#options.rate !== false) parts.push(`${count(Math.round(rate))} ${unit}/s`);
    if (final) parts.push(`in ${duration(seconds)}`);
    else if (total !== undefined && total > this.#done && rate > 0) parts.push(`ETA ${duration((total - this.#done) / rate)}`);
    return parts.join(' ');
  }

  #draw(now: number, final: boolean): void {
    const text = this.line(now, final);
    if (this.#sink.isTTY) {
      const width = this.#sink.columns ?? 80;
      this.#sink.write(`\r${text.slice(0, width - 1).padEnd(width - 1)}${final ? '\n' : ''}`);
    } else {
      this.#sink.write(`${text}\n`);
    }
  }
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** 3.2s, 4m05s, 1h02m. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
