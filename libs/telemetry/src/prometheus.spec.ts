import { NO_METRICS } from './metrics.js';
import { PrometheusMetrics } from './prometheus.js';

/** The exposition's sample lines (no comments), as name{labels} -> value. */
function samples(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1)] as [string, string]),
  );
}

describe('PrometheusMetrics', () => {
  it('writes counters, gauges and their labels with the merklekv_ prefix', async () => {
    const metrics = new PrometheusMetrics({ defaults: false });
    const commands = metrics.counter({ name: 'commands_total', help: 'Commands.', labels: ['command', 'outcome'] });
    const get = commands.labels({ command: 'GET', outcome: 'ok' });
    get.inc();
    get.inc(2);
    commands.labels({ command: 'SET', outcome: 'BAD_REQUEST' }).inc();
    const depth = metrics.gauge({ name: 'outbox_depth', help: 'Outbox.' });
    depth.set(7);
    depth.dec(2);
    const text = await metrics.exposition();
    expect(text).toContain('# HELP merklekv_commands_total Commands.\n# TYPE merklekv_commands_total counter\n');
    expect(text).toContain('# TYPE merklekv_outbox_depth gauge');
    const values = samples(text);
    expect(values.get('merklekv_commands_total{command="GET",outcome="ok"}')).toBe('3');
    expect(values.get('merklekv_commands_total{command="SET",outcome="BAD_REQUEST"}')).toBe('1');
    expect(values.get('merklekv_outbox_depth')).toBe('5');
  });

  it('writes cumulative histogram buckets, sum and count', async () => {
    const metrics = new PrometheusMetrics({ defaults: false });
    const latency = metrics.histogram({ name: 'latency_seconds', help: 'Latency.', labels: ['op'], buckets: [0.001, 0.01, 0.1] });
    const get = latency.labels({ op: 'get' });
    for (const v of [0.0005, 0.001, 0.005, 0.05, 3]) get.observe(v);
    const values = samples(await metrics.exposition());
    expect(values.get('merklekv_latency_seconds_bucket{op="get",le="0.001"}')).toBe('2');
    expect(values.get('merklekv_latency_seconds_bucket{op="get",le="0.01"}')).toBe('3');
    expect(values.get('merklekv_latency_seconds_bucket{op="get",le="0.1"}')).toBe('4');
    expect(values.get('merklekv_latency_seconds_bucket{op="get",le="+Inf"}')).toBe('5');
    expect(values.get('merklekv_latency_seconds_count{op="get"}')).toBe('5');
    expect(Number(values.get('merklekv_latency_seconds_sum{op="get"}'))).toBeCloseTo(3.0565, 6);
  });

  it('rebuilds collected metrics at every scrape, so label sets that went away disappear', async () => {
    const metrics = new PrometheusMetrics({ defaults: false });
    let peers: [string, number][] = [
      ['a', 1],
      ['b', 2],
    ];
    metrics.gauge({ name: 'peer_outbox_depth', help: 'Peers.', labels: ['peer'], collect: (report) => peers.forEach(([peer, n]) => report(n, { peer })) });
    expect(samples(await metrics.exposition()).get('merklekv_peer_outbox_depth{peer="b"}')).toBe('2');
    peers = [['a', 5]];
    const values = samples(await metrics.exposition());
    expect(values.get('merklekv_peer_outbox_depth{peer="a"}')).toBe('5');
    expect(values.has('merklekv_peer_outbox_depth{peer="b"}')).toBe(false);
  });

  it('escapes label values and help text', async () => {
    const metrics = new PrometheusMetrics({ defaults: false });
    metrics.counter({ name: 'odd_total', help: 'back\\slash\nnewline', labels: ['v'] }).labels({ v: 'a"b\\c\nd' }).inc();
    const text = await metrics.exposition();
    expect(text).toContain('# HELP merklekv_odd_total back\\\\slash\\nnewline');
    expect(text).toContain('merklekv_odd_total{v="a\\"b\\\\c\\nd"} 1');
  });

  it('refuses bad definitions, duplicate names, missing labels and decrements of counters', () => {
    const metrics = new PrometheusMetrics({ defaults: false });
    metrics.counter({ name: 'x_total', help: 'x' });
    expect(() => metrics.counter({ name: 'x_total', help: 'x' })).toThrow(expect.objectContaining({ code: 'BAD_METRIC' }));
    expect(() => metrics.gauge({ name: 'bad-name', help: 'x' })).toThrow(expect.objectContaining({ code: 'BAD_METRIC' }));
    expect(() => metrics.histogram({ name: 'h', help: 'x', buckets: [1, 1] })).toThrow(expect.objectContaining({ code: 'BAD_METRIC' }));
    const labelled = metrics.counter({ name: 'y_total', help: 'y', labels: ['a', 'b'] });
    expect(() => labelled.labels({ a: '1' } as never)).toThrow(expect.objectContaining({ code: 'BAD_LABELS' }));
    expect(() => labelled.labels({ a: '1', b: '2' }).inc(-1)).toThrow(expect.objectContaining({ code: 'BAD_VALUE' }));
  });

  it("adds Node's default metrics and the event-loop lag under their own names", async () => {
    const metrics = new PrometheusMetrics();
    try {
      const text = await metrics.exposition();
      expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
      expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
      expect(text).toMatch(/^merklekv_event_loop_lag_p99_seconds \d/m);
      expect(text).toMatch(/^merklekv_event_loop_lag_max_seconds \d/m);
      expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    } finally {
      metrics.close();
    }
  });

  it('NO_METRICS accepts everything and records nothing', () => {
    NO_METRICS.counter({ name: 'a_total', help: 'a' }).inc();
    NO_METRICS.gauge({ name: 'g', help: 'g', labels: ['x'] }).labels({ x: '1' }).set(3);
    NO_METRICS.histogram({ name: 'h', help: 'h', buckets: [1] }).observe(2);
  });
});
