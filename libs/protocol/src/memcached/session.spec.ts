import { executorFixture, type ExecutorFixture } from '../../../commands/src/testing/executor-fixture.js';
import { Logger } from '#logging';
import { ProtocolSession, type SessionTransport } from '../session/session.js';
import { MemcachedCounters } from './commands.js';
import { memcachedSessionProtocol } from './session.js';

/** Collects what the session sends. */
class Collected implements SessionTransport {
  readonly sent: Buffer[] = [];
  unsentBytes = 0;
  closed = false;
  ended = false;
  write(bytes: Buffer): void {
    this.sent.push(bytes);
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.closed = true;
  }
  pauseReading(): void {}
  resumeReading(): void {}
  cork(): void {}
  uncork(): void {}
  setNoDelay(): void {}
  text(): string {
    return Buffer.concat(this.sent).toString('latin1');
  }
}

const NOW = 1_800_000_000_000;

describe('memcached over the command layer', () => {
  let fixture: ExecutorFixture;
  let flushes: number[];
  beforeEach(async () => {
    fixture = await executorFixture({ now: () => NOW });
    flushes = [];
  });
  afterEach(() => fixture.close());

  /** Sends `input` on a fresh connection and waits until `replies` bytes of answer arrived. */
  async function exchange(input: string | Buffer, until: (text: string) => boolean): Promise<{ text: string; transport: Collected }> {
    const transport = new Collected();
    const protocol = memcachedSessionProtocol({
      maxValueBytes: 1024,
      counters: new MemcachedCounters(),
      version: '9.9.9',
      pid: 42,
      now: () => NOW,
      scheduleFlush: (delay) => flushes.push(delay),
    });
    const session = new ProtocolSession(transport, { executor: fixture.executor, stats: fixture.stats, protocol, logger: Logger.create({ level: 'error' }) });
    session.receive(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
    for (let i = 0; i < 200 && !until(transport.text()); i++) await new Promise((resolve) => setImmediate(resolve));
    return { text: transport.text(), transport };
  }

  it('answers a pipelined text transcript in order, with flags, CAS values and memcached incr', async () => {
    const { text } = await exchange(
      'set a 7 0 3\r\none\r\nget a b\r\nadd a 0 0 1\r\nx\r\nappend a 0 0 1\r\n!\r\nincr a 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 99\r\nincr none 1\r\n' +
        'touch a 100\r\ndelete a\r\ndelete a\r\nflush_all 30\r\nverbosity 1 noreply\r\nversion\r\n',
      (t) => t.endsWith('VERSION 9.9.9\r\n'),
    );
    expect(text).toBe(
      [
        'STORED',
        'VALUE a 7 3',
        'one',
        'END',
        'NOT_STORED',
        'STORED',
        'CLIENT_ERROR cannot increment or decrement non-numeric value',
        'STORED',
        '15',
        '0',
        'NOT_FOUND',
        'TOUCHED',
        'DELETED',
        'NOT_FOUND',
        'OK',
        'VERSION 9.9.9',
        '',
      ].join('\r\n'),
    );
    expect(flushes).toEqual([30]);
  });

  it('gets and cas: the CAS value of gets stores once', async () => {
    const { text } = await exchange('set k 0 0 1\r\nx\r\ngets k\r\n', (t) => t.endsWith('END\r\n'));
    const cas = /VALUE k 0 1 (\d+)/.exec(text)![1]!;
    const second = await exchange(`cas k 0 0 1 ${cas}\r\ny\r\ncas k 0 0 1 ${cas}\r\nz\r\ncas none 0 0 1 1\r\nz\r\n`, (t) => t.split('\r\n').length > 3);
    expect(second.text).toBe('STORED\r\nEXISTS\r\nNOT_FOUND\r\n');
  });

  it('gat of several keys touches each and ends once; an expired key is gone', async () => {
    const { text } = await exchange('set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nset gone 0 -1 1\r\n3\r\ngat 100 a none b\r\nget gone\r\n', (t) => t.endsWith('END\r\nEND\r\n'));
    expect(text).toBe('STORED\r\nSTORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\nEND\r\n');
  });

  it('frames meta replies with the flags asked for', async () => {
    const { text } = await exchange('ms k 2 F5 T100 q\r\nhi\r\nmg k v f t s k O7\r\nmg none v q\r\nmg none k\r\nma c N0 J3 v\r\nmd k q\r\nmd k\r\nmn\r\n', (t) => t.endsWith('MN\r\n'));
    expect(text).toBe('VA 2 f5 t100 s2 kk O7\r\nhi\r\nEN knone\r\nVA 1\r\n3\r\nNF\r\nMN\r\n');
  });

  it('answers binary requests with their opcode and opaque, and quiet ones only when memcached does', async () => {
    const header = (opcode: number, key: string, extras: Buffer, value: Buffer, opaque: number): Buffer => {
      const h = Buffer.alloc(24);
      h[0] = 0x80;
      h[1] = opcode;
      h.writeUInt16BE(key.length, 2);
      h[4] = extras.length;
      h.writeUInt32BE(extras.length + key.length + value.length, 8);
      h.writeUInt32BE(opaque, 12);
      return Buffer.concat([h, extras, Buffer.from(key), value]);
    };
    const flags = Buffer.from([0, 0, 0, 9, 0, 0, 0, 0]);
    const input = Buffer.concat([
      header(0x11, 'k', flags, Buffer.from('v'), 1), // setq: silent on success
      header(0x09, 'none', Buffer.alloc(0), Buffer.alloc(0), 2), // getq miss: silent
      header(0x0c, 'k', Buffer.alloc(0), Buffer.alloc(0), 3), // getk hit
      header(0x0a, '', Buffer.alloc(0), Buffer.alloc(0), 4), // noop
    ]);
    const { text } = await exchange(input, (t) => t.length >= 24 + 4 + 1 + 1 + 24);
    const bytes = Buffer.from(text, 'latin1');
    expect([bytes[0], bytes[1], bytes.readUInt16BE(6), bytes.readUInt32BE(12), bytes.readUInt32BE(24)]).toEqual([0x81, 0x0c, 0, 3, 9]);
    expect(bytes.subarray(28, 30).toString()).toBe('kv');
    expect([bytes[31], bytes.readUInt32BE(30 + 12), bytes.length]).toEqual([0x0a, 4, 30 + 24]);
  });
});
