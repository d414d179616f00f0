import { Progress } from './progress.js';
import { formatStatus, lagByPeer, statusRows } from './status.js';
import { replyFraming } from './text-connection.js';
import { readMetrics, sampleBetween } from './node-sample.js';

describe('replyFraming', () => {
  it('ends a reply where its command says', () => {
    expect(replyFraming('GET k')(['VALUE v'])).toBe(true);
    const mget = replyFraming('MGET a b c');
    expect(mget(['VALUES 1', 'a 1', 'b NOT_FOUND'])).toBe(false);
    expect(mget(['VALUES 1', 'a 1', 'b NOT_FOUND', 'c NOT_FOUND'])).toBe(true);
    expect(mget(['NOT_FOUND'])).toBe(true);
    const scan = replyFraming('scan p');
    expect(scan(['KEYS 2', 'p1'])).toBe(false);
    expect(scan(['KEYS 2', 'p1', 'p2'])).toBe(true);
    expect(replyFraming('CLIENT LIST')(['CLIENT LIST', 'id=1 addr=x age=0 idle=0'])).toBe(false);
    expect(replyFraming('CLIENT LIST')(['CLIENT LIST', 'END'])).toBe(true);
    expect(replyFraming('WATCH p')(['WATCHING p', 'CHANGE p1 v'])).toBe(false);
    expect(replyFraming('WATCH p')(['ERROR nope'])).toBe(true);
    expect(replyFraming('INFO')(['INFO', 'a:1'])).toBe(false);
    expect(replyFraming('INFO')(['INFO', 'a:1', 'PONG merklekv-cli-end-of-reply'])).toBe(true);
  });
});

describe('Progress', () => {
  const sink = (isTTY: boolean) => {
    const written: string[] = [];
    return { written, sink: { isTTY, columns: 100, write: (text: string) => written.push(text) } };
  };

  it('draws a bar, the rate and the time left on a terminal, in place', () => {
    let now = 0;
    const { written, sink: tty } = sink(true);
    const progress = new Progress(tty, { label: 'backup', unit: 'entries', total: 1000, now: () => now });
    now = 2000;
    progress.update(250);
    expect(written.at(-1)).toMatch(/^\rbackup \[######-+\] 25% 250\/1,000 entries 125 entries\/s ETA 6\.0s\s*$/);
    now = 4000;
    progress.update(1000);
    progress.finish();
    expect(written.at(-1)).toMatch(/^\rbackup \[#{24}\] 100% 1,000\/1,000 entries 250 entries\/s in 4\.0s\s*\n$/);
  });

  it('writes plain lines, at most one per interval, elsewhere', () => {
    let now = 0;
    const { written, sink: pipe } = sink(false);
    const progress = new Progress(pipe, { label: 'verify', unit: 'shards', now: () => now, plainIntervalMs: 1000 });
    for (let i = 0; i < 10; i++) {
      now += 300;
      progress.advance();
    }
    progress.finish();
    expect(written.every((line) => !line.includes('\r') && line.endsWith('\n'))).toBe(true);
    expect(written).toHaveLength(4);
    expect(written.at(-1)).toBe('verify 10 shards 3 shards/s in 3.0s\n');
  });
});

describe('status', () => {
  it('lists the node, then its peers with their lag, outbox and last anti-entropy session', () => {
    const lags = lagByPeer('# HELP x\nmerklekv_replication_lag_seconds{peer="b"} 0.25\nmerklekv_outbox_depth 3\n');
    const now = Date.parse('2026-01-01T00:01:00Z');
    const status = statusRows(
      {
        cluster: 'main',
        node: { id: 'a', connected: true, replicating: true, outboxDepth: 3 },
        peers: [
          { id: 'b', state: 'alive', outboxDepth: 0, addresses: { http: '10.0.0.2:8080' } },
          { id: 'c', state: 'dead', addresses: { merklekv: '10.0.0.3:7379' } },
        ],
        antiEntropy: {
          sessions: [
            { peer: 'b', at: '2026-01-01T00:00:30Z', result: 'ok', keysRepaired: 2 },
            { peer: 'b', at: '2026-01-01T00:00:10Z', result: 'error' },
          ],
        },
      },
      lags,
      now,
      '127.0.0.1:8080',
    );
    expect(formatStatus(status).split('\n')).toEqual([
      'cluster main, as node a sees it',
      'NODE           STATE  HTTP            LAG     OUTBOX  LAST ANTI-ENTROPY',
      'a (this node)  alive  127.0.0.1:8080  -       3       -',
      'b              alive  10.0.0.2:8080   0.250s  0       30s ago (ok, 2 repaired)',
      'c              dead   10.0.0.3:7379   -       -       -',
      '',
    ]);
  });
});

describe('node samples', () => {
  const exposition = (commands: number, fast: number, slow: number): string =>
    [
      `merklekv_commands_total{protocol="merklekv",command="SET",outcome="ok"} ${commands}`,
      `merklekv_commands_total{protocol="http",command="GET",outcome="ok"} ${commands}`,
      `merklekv_command_duration_seconds_bucket{protocol="merklekv",command="SET",le="0.001"} ${fast}`,
      `merklekv_command_duration_seconds_bucket{protocol="merklekv",command="SET",le="0.01"} ${fast + slow}`,
      `merklekv_command_duration_seconds_bucket{protocol="merklekv",command="SET",le="+Inf"} ${fast + slow}`,
      'merklekv_replication_lag_seconds{peer="b"} 0.5',
      'merklekv_outbox_depth 7',
    ].join('\n');

  it('takes ops/s and latency quantiles from the difference of two readings', () => {
    const sample = sampleBetween(readMetrics(exposition(10, 10, 0), 1000), readMetrics(exposition(110, 200, 10), 3000));
    expect(sample).toEqual({ at: 3000, opsPerSec: 100, p50Ms: 1, p99Ms: 10, lagSeconds: { b: 0.5 }, outboxDepth: 7 });
  });

  it('has no quantiles for an interval without commands', () => {
    const reading = readMetrics(exposition(5, 5, 0), 0);
    expect(sampleBetween(reading, { ...reading, at: 1000 })).toMatchObject({ opsPerSec: 0, p50Ms: null, p99Ms: null });
  });
});
