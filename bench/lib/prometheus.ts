/**
 * Reads a figure from a server's Prometheus text exposition (`/metrics`), e.g. the heap the
 * node's prom-client default metrics report, without a Prometheus client on our side.
 */

/** The sum of every sample of metric `name` (any labels) in exposition text, or undefined when there is none. */
export function metricValue(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    // Exactly this metric: `name 12` or `name{...} 12`, not `name_total 12`.
    const next = line.charAt(name.length);
    if (next !== ' ' && next !== '{') continue;
    // The value follows the series (a label value may hold `}`: the last one closes the set);
    // an optional timestamp may follow the value.
    const rest = next === '{' ? line.slice(line.lastIndexOf('}') + 1) : line.slice(name.length);
    const value = Number(rest.trim().split(/\s+/)[0]);
    if (Number.isNaN(value)) continue;
    total = (total ?? 0) + value;
  }
  return total;
}

/** GETs `http://host:port/metrics` and returns metric `name` (see {@link metricValue}). */
export async function scrapeMetric(port: number, name: string, options: { host?: string; timeoutMs?: number } = {}): Promise<number | undefined> {
  const response = await fetch(`http://${options.host ?? '127.0.0.1'}:${port}/metrics`, {
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  if (response.status !== 200) throw new Error(`GET /metrics on port ${port} answered ${response.status}`);
  return metricValue(await response.text(), name);
}
