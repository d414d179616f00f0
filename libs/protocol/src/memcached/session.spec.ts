import { executorFixture, type ExecutorFixture } from '../../../commands/src/testing/executor-fixture.js';
import { AccessControl, type CommandPort, GuardedPort } from '#commands';
import { hashPassword, parsePasswordHash, type UserConfig } from '#config';
import { Logger } from '#logging';
import { DEFAULT_SESSION_LIMITS, ProtocolSession, type SessionDeps, type SessionTransport } from '../session/session.js';
import { MemcachedCounters } from './commands.js';
import { memcachedSessionProtocol } from './session.js';

/** Collects what the session sends. */
class Collected implements SessionTransport {
  readonly sent: Buffer[] = [];
  unsentBytes = 0;
  closed = false;
  ended = false;
  write(bytes: Uint8Array): void {
    this.sent.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
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

/** A binary request packet. */
function header(opcode: number, key: string, extras: Buffer, value: Buffer, opaque: number): Buffer {
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(opaque, 12);
  return Buffer.concat([h, extras, Buffer.from(key), value]);
}

/** Binary responses as `opaque:status:value`, in order. */
function responses(text: string): string[] {
  const bytes = Buffer.from(text, 'latin1');
  const out: string[] = [];
  for (let at = 0; at + 24 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at + 8);
    const skip = bytes[at + 4]! + bytes.readUInt16BE(at + 2);
    out.push(`${bytes.readUInt32BE(at + 12)}:0x${bytes.readUInt16BE(at + 6).toString(16)}:${bytes.toString('latin1', at + 24 + skip, at + 24 + length)}`);
    at += 24 + length;
  }
  return out;
}
const NONE = Buffer.alloc(0);
const plain = (user: string, password: string): Buffer => Buffer.from(`\0${user}\0${password}`);

describe('memcached over the command layer', () => {
  let fixture: ExecutorFixture;
  let flushes: number[];
  beforeEach(async () => {
    fixture = await executorFixture({ now: () => NOW });
    flushes = [];
  });
  afterEach(() => fixture.close());

  interface Connection {
    readonly transport: Collected;
    /** Sends `input` and waits until the whole answer so far satisfies `until`; resolves with it. */
    send(input: string | Buffer, until: (text: string) => boolean): Promise<string>;
  }

  /** A fresh connection on `executor` (default: the fixture's, unguarded). */
  function connect(options: { executor?: CommandPort; signInRequired?: boolean; session?: Pick<SessionDeps, 'limits' | 'nextTurn'> } = {}): Connection {
    const transport = new Collected();
    const protocol = memcachedSessionProtocol({
      maxValueBytes: 1024,
      counters: new MemcachedCounters(),
      version: '9.9.9',
      pid: 42,
      now: () => NOW,
      signInRequired: options.signInRequired ?? false,
      scheduleFlush: (delay, port) => {
        if (port instanceof GuardedPort) port.authorize({ name: 'TRUNCATE' });
        flushes.push(delay);
      },
    });
    const executor = options.executor ?? fixture.executor;
    const session = new ProtocolSession(transport, { executor, stats: fixture.stats, protocol, logger: Logger.create({ level: 'error' }), ...options.session });
    return {
      transport,
      async send(input, until) {
        session.receive(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
        // A deadline, not a count of turns: a sign-in waits for scrypt on the thread pool, which a loaded machine may not run for a while.
        const deadline = Date.now() + 10_000;
        while (!until(transport.text()) && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
        return transport.text();
      },
    };
  }

  /** Sends `input` on a fresh connection and waits until the answer satisfies `until`. */
  async function exchange(input: string | Buffer, until: (text: string) => boolean): Promise<{ text: string; transport: Collected }> {
    const connection = connect();
    const text = await connection.send(input, until);
    return { text, transport: connection.transport };
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

  it('yields after a turn of replies, as MerkleKV connections do, and answers the rest in the next turns', async () => {
    await exchange('set k 0 0 3\r\nabc\r\n', (t) => t === 'STORED\r\n');
    const resumes: (() => void)[] = [];
    const connection = connect({ session: { limits: { ...DEFAULT_SESSION_LIMITS, maxTurnReplies: 2 }, nextTurn: (resume) => void resumes.push(resume) } });
    const { transport } = connection;
    // The request runs, and the first turn's replies go out, before send's first wait.
    void connection.send('get k\r\n'.repeat(5), () => true);
    const block = 'VALUE k 0 3\r\nabc\r\nEND\r\n';
    expect(transport.text()).toBe(block.repeat(2));
    resumes.shift()!();
    expect(transport.text()).toBe(block.repeat(4));
    resumes.shift()!();
    expect(transport.text()).toBe(block.repeat(5));
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

  describe('with users: memcached sign-in on the guard', () => {
    let users: UserConfig[];
    let control: AccessControl;
    beforeAll(async () => {
      const hashed = async (password: string) => parsePasswordHash(await hashPassword(password, { logN: 10, r: 8, p: 1 })) as Exclude<ReturnType<typeof parsePasswordHash>, string>;
      users = [
        { name: 'app', password: await hashed('app-pw'), tokens: [], permissions: [{ prefix: 'app:', access: 'write' }, { prefix: 'pub:', access: 'read' }] },
        { name: 'ops', password: await hashed('ops pw'), tokens: [], permissions: [{ prefix: '', access: 'admin' }] },
      ];
    });
    beforeEach(() => {
      control = new AccessControl(users);
    });
    const guarded = (): Connection => connect({ executor: control.guard(fixture.executor, undefined, '192.0.2.1'), signInRequired: true });
    const lines = (n: number) => (t: string) => t.split('\r\n').length > n;

    it('text: refuses all but the sign-in set, which answers even with noreply; then the user is checked per key', async () => {
      const c = guarded();
      expect(await c.send('get app:k\r\nversion\r\nms app:k 1\r\nx\r\nquit\r\nflush_all 10\r\n', lines(5))).toBe('CLIENT_ERROR unauthenticated\r\n'.repeat(5));
      c.transport.sent.length = 0;
      expect(await c.send('set x 0 0 10 noreply\r\napp wrong!\r\n', lines(1))).toBe('CLIENT_ERROR authentication failure\r\n');
      expect(await c.send('set x 0 0 3\r\napp\r\n', lines(2))).toMatch(/CLIENT_ERROR bad authentication token format\r\n$/);
      c.transport.sent.length = 0;
      // Pipelined behind the sign-in: run once it is answered, as the user signed in.
      expect(await c.send('set any 0 0 10\r\napp app-pw\r\nset app:k 0 0 1\r\nv\r\nget app:k\r\n', (t) => t.endsWith('END\r\n'))).toBe(
        'STORED\r\nSTORED\r\nVALUE app:k 0 1\r\nv\r\nEND\r\n',
      );
      c.transport.sent.length = 0;
      expect(await c.send('set pub:k 0 0 1\r\nv\r\nget secret\r\nflush_all\r\nflush_all 10\r\n', lines(4))).toBe(
        [
          "CLIENT_ERROR user 'app' may not write key 'pub:k'",
          "CLIENT_ERROR user 'app' may not read key 'secret'",
          'CLIENT_ERROR user \'app\' may not run TRUNCATE: it needs admin on every key (prefix "")',
          'CLIENT_ERROR user \'app\' may not run TRUNCATE: it needs admin on every key (prefix "")',
          '',
        ].join('\r\n'),
      );
      expect(flushes).toEqual([]);
      expect(await fixture.run({ name: 'EXISTS', keys: ['pub:k'] })).toBe(0);
    });

    it('text: commands pipelined behind a refused sign-in are refused, and the next set signs in again', async () => {
      const c = guarded();
      expect(await c.send('set a 0 0 8\r\napp nope\r\nget app:k\r\n', lines(2))).toBe('CLIENT_ERROR authentication failure\r\nCLIENT_ERROR unauthenticated\r\n');
      c.transport.sent.length = 0;
      expect(await c.send('set a 0 0 10\r\nops ops pw\r\n', lines(1))).toBe('STORED\r\n');
      // A delayed flush is checked when it arrives, so it is sent once the sign-in is answered.
      expect(await c.send('flush_all 10\r\nflush_all\r\n', lines(3))).toBe('STORED\r\nOK\r\nOK\r\n');
      expect(flushes).toEqual([10]);
    });

    it('binary: SASL PLAIN signs in; a refusal is status 0x20; the user is checked per key (0x24)', async () => {
      const c = guarded();
      const text = await c.send(
        Buffer.concat([
          header(0x0b, '', NONE, NONE, 1), // version: open
          header(0x20, '', NONE, NONE, 2),
          header(0x21, 'PLAIN', NONE, plain('app', 'nope'), 3),
          header(0x21, 'CRAM-MD5', NONE, plain('app', 'app-pw'), 4),
          header(0x21, 'PLAIN', NONE, plain('app', 'app-pw'), 5),
          header(0x01, 'app:k', Buffer.alloc(8), Buffer.from('v'), 6),
          header(0x00, 'app:k', NONE, NONE, 7),
          header(0x00, 'secret', NONE, NONE, 8),
        ]),
        (t) => responses(t).length === 8,
      );
      expect(responses(text)).toEqual([
        '1:0x0:9.9.9',
        '2:0x0:PLAIN',
        '3:0x20:Auth failure.',
        '4:0x20:Auth failure.',
        '5:0x0:Authenticated',
        '6:0x0:',
        '7:0x0:v',
        "8:0x24:user 'app' may not read key 'secret'",
      ]);
    });

    it('binary: a start without a message gets an empty challenge (0x21) and the step carries it', async () => {
      const c = guarded();
      const text = await c.send(Buffer.concat([header(0x21, 'PLAIN', NONE, NONE, 1), header(0x22, 'PLAIN', NONE, plain('ops', 'ops pw'), 2)]), (t) => responses(t).length === 2);
      expect(responses(text)).toEqual(['1:0x21:', '2:0x0:Authenticated']);
    });

    it('binary: any other command before sign-in is status 0x20, and the connection closes, as memcached does', async () => {
      const c = guarded();
      const text = await c.send(Buffer.concat([header(0x00, 'app:k', NONE, NONE, 1), header(0x0a, '', NONE, NONE, 2)]), () => c.transport.ended);
      expect(responses(text)).toEqual(['1:0x20:Auth failure.']);
    });
  });

  it('without users, SASL is an unknown command (as memcached without SASL) and a set is a set', async () => {
    const { text } = await exchange(Buffer.concat([header(0x20, '', NONE, NONE, 1), header(0x21, 'PLAIN', NONE, plain('app', 'pw'), 2)]), (t) => responses(t).length === 2);
    expect(responses(text)).toEqual(['1:0x81:Unknown command', '2:0x81:Unknown command']);
  });
});
