/** A numeric command-line flag of a benchmark; anything else ends the run with exit code 2. */
export function positive(name: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    process.stderr.write(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}

/** On SIGINT or SIGTERM: `cleanup` (kill what the benchmark started, remove its temp dirs), then exit 130. */
export function onInterrupt(bench: string, cleanup: () => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`[bench:${bench}] ${signal}: stopping the servers\n`);
      cleanup();
      process.exit(130);
    });
  }
}

/** SIGKILLs a process the benchmark started, unless it is gone already. */
export function killQuietly(pid: number): void {
  try {
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs a benchmark's main: a failure is reported on stderr and the exit code set to 1. */
export function runBench(bench: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`[bench:${bench}] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
