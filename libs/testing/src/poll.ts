/**
 * Polls `probe` until it returns true (no fixed sleeps in tests). At `timeoutMs` it fails naming
 * `what` it waited for, or, when `what` is a function, with what that says then (the state the
 * probe saw, where that says more than the wait).
 */
export async function eventually(what: string | (() => string), probe: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const failure = typeof what === 'string' ? ` waiting for ${what}` : `: ${what()}`;
      throw new Error(`timed out after ${timeoutMs} ms${failure}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
