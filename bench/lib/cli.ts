/** A numeric command-line flag of a benchmark; anything else ends the run with exit code 2. */
export function positive(name: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    process.stderr.write(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
