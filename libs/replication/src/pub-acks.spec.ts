import { InvalidArgumentError } from '@nats-io/transport-node';
import { startNatsServer } from '#testing';
import { ReplicationError } from './errors.js';
import { PubAckPipe, parsePubAck } from './pub-acks.js';
import { ensureStream } from './stream.js';
import { testClient } from './testing/nats.js';

const utf8 = new TextEncoder();

describe('PubAckPipe (nats-server 2.9)', () => {

  it('resolves with the PubAck, de-duplicates by msgID and carries the trace header', async () => {
    await using nats = await startNatsServer();
    await using c = await testClient(nats.url);
    await ensureStream(c.jsm, { cluster: 'pipe' });
    const pipe = new PubAckPipe(c.nc);
    const first = await pipe.publish('merklekv.pipe.changes.1', utf8.encode('one'), { msgID: 'a:1', timeoutMs: 2_000, traceparent: '00-abc-def-01' });
    const again = await pipe.publish('merklekv.pipe.changes.1', utf8.encode('one'), { msgID: 'a:1', timeoutMs: 2_000 });
    const other = await pipe.publish('merklekv.pipe.changes.2', utf8.encode('two'), { msgID: 'a:2', timeoutMs: 2_000 });
    expect(first).toEqual({ stream: 'MERKLEKV_pipe', seq: 1, duplicate: false });
    expect(again).toEqual({ stream: 'MERKLEKV_pipe', seq: 1, duplicate: true });
    expect(other).toEqual({ stream: 'MERKLEKV_pipe', seq: 2, duplicate: false });
    const stored = await c.jsm.streams.getMessage('MERKLEKV_pipe', { seq: 1 });
    expect(stored?.header.get('Nats-Msg-Id')).toBe('a:1');
    expect(stored?.header.get('traceparent')).toBe('00-abc-def-01');
    expect(pipe.inFlight).toBe(0);
    pipe.close();
  });

  it('keeps many publishes in flight and matches each PubAck to its own publish', async () => {
    await using nats = await startNatsServer();
    await using c = await testClient(nats.url);
    await ensureStream(c.jsm, { cluster: 'many' });
    const pipe = new PubAckPipe(c.nc);
    const acks = await Promise.all(
      Array.from({ length: 500 }, (_, i) => pipe.publish(`merklekv.many.changes.${i % 7}`, utf8.encode(`v${i}`), { msgID: `a:${i}`, timeoutMs: 5_000 })),
    );
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    pipe.close();
  });

  it('fails retryably when no stream takes the subject, and when the answer does not come in time', async () => {
    await using nats = await startNatsServer();
    await using c = await testClient(nats.url);
    const pipe = new PubAckPipe(c.nc);
    await expect(pipe.publish('merklekv.nostream.changes.0', utf8.encode('x'), { msgID: 'a:1', timeoutMs: 2_000 })).rejects.toMatchObject({
      code: 'NATS_UNAVAILABLE',
      message: expect.stringContaining('no responders'),
    });
    // Something listens but never answers: the sweep fails the publish.
    const silent = c.nc.subscribe('merklekv.silent.changes.0');
    await c.nc.flush();
    await expect(pipe.publish('merklekv.silent.changes.0', utf8.encode('x'), { msgID: 'a:2', timeoutMs: 150 })).rejects.toMatchObject({
      code: 'NATS_UNAVAILABLE',
      message: expect.stringContaining('timeout'),
    });
    silent.unsubscribe();
    expect(pipe.inFlight).toBe(0);
    pipe.close();
  });

  it('throws InvalidArgumentError for a message over max_payload, and rejects what is in flight when closed', async () => {
    await using nats = await startNatsServer();
    await using c = await testClient(nats.url);
    const pipe = new PubAckPipe(c.nc);
    const huge = new Uint8Array((c.nc.info?.max_payload ?? 1024 * 1024) + 1);
    expect(() => pipe.publish('merklekv.big.changes.0', huge, { msgID: 'a:1', timeoutMs: 1_000 })).toThrow(InvalidArgumentError);
    const silent = c.nc.subscribe('merklekv.closing.changes.0');
    await c.nc.flush();
    const pending = pipe.publish('merklekv.closing.changes.0', utf8.encode('x'), { msgID: 'a:2', timeoutMs: 60_000 });
    pipe.close();
    await expect(pending).rejects.toBeInstanceOf(ReplicationError);
    await expect(pipe.publish('merklekv.closing.changes.0', utf8.encode('x'), { msgID: 'a:3', timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'STOPPED' });
    silent.unsubscribe();
  });
});

describe('parsePubAck', () => {
  it('reads a PubAck and turns anything else into a retryable error', () => {
    expect(parsePubAck(utf8.encode('{"stream":"S","seq":7}'))).toEqual({ stream: 'S', seq: 7, duplicate: false });
    expect(parsePubAck(utf8.encode('{"stream":"S","seq":7,"duplicate":true}'))).toEqual({ stream: 'S', seq: 7, duplicate: true });
    for (const body of ['', 'not json', '[]', 'null', '{"seq":1}', '{"stream":"","seq":1}', '{"stream":"S","seq":"1"}']) {
      expect(() => parsePubAck(utf8.encode(body))).toThrow(expect.objectContaining({ code: 'NATS_UNAVAILABLE' }));
    }
    expect(() => parsePubAck(utf8.encode('{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}'))).toThrow(
      'JetStream refused a publish: maximum messages exceeded (10077)',
    );
  });
});
