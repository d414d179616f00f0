import { type Command, type CommandPort, CommandStats, type WatchEvent, type WatchFeed } from '#commands';
import { Logger } from '#logging';
import { MERKLEKV_SESSION_PROTOCOL } from '../merklekv/session.js';
import { ProtocolSession, type SessionLimits, type SessionTransport } from './session.js';

/** A transport whose peer reads only when told to: what it was sent, and what it has not taken yet. */
class PeerTransport implements SessionTransport {
  /** Every write, as given. */
  readonly writes: Uint8Array[] = [];
  private received: Uint8Array[] = [];
  unsentBytes = 0;
  closed = false;
  ended = false;
  paused = false;
  /** The most unsent bytes seen at once. */
  peakUnsent = 0;

  write(bytes: Uint8Array): void {
    this.writes.push(bytes);
    this.received.push(bytes);
    this.unsentBytes += bytes.length;
    this.peakUnsent = Math.max(this.peakUnsent, this.unsentBytes);
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.closed = true;
  }
  pauseReading(): void {
    this.paused = true;
  }
  resumeReading(): void {
    this.paused = false;
  }
  cork(): void {}
  uncork(): void {}
  setNoDelay(): void {}

  /** The peer reads everything sent so far. */
  take(): string {
    this.unsentBytes = 0;
    const text = Buffer.concat(this.received).toString('utf8');
    this.received = [];
    return text;
  }
}

/** Reads answer at once from a map; writes resolve when the test says so (or at once). */
class ScriptedCommands implements CommandPort {
  readonly values = new Map<string, Buffer>();
  readonly executed: Command[] = [];
  readonly unfinished: (() => void)[] = [];
  holdWrites = false;
  watchListener: ((event: WatchEvent) => void) | undefined;

  execute(command: Command): never {
    this.executed.push(command);
    return this.result(command) as never;
  }

  private result(command: Command): unknown {
    switch (command.name) {
      case 'GET': {
        // A key outside the cache: answered later, with the turn's other misses.
        if (!command.key.startsWith('slow:')) return this.values.get(command.key);
        return new Promise<Buffer | undefined>((resolve) => this.unfinished.push(() => resolve(this.values.get(command.key))));
      }
      case 'PING':
        return command.message;
      case 'SET': {
        const apply = (): void => void this.values.set(command.key, Buffer.from(command.value));
        if (!this.holdWrites) return Promise.resolve().then(apply);
        return new Promise<void>((resolve) => this.unfinished.push(() => (apply(), resolve())));
      }
      case 'WATCH': {
        const feed: WatchFeed = {
          prefix: command.prefix,
          start: (listener) => (this.watchListener = listener),
          stop: () => (this.watchListener = undefined),
        };
        return feed;
      }
      default:
        throw new Error(`not scripted: ${command.name}`);
    }
  }

  count(name: Command['name']): number {
    return this.executed.filter((c) => c.name === name).length;
  }
}

const MiB = 1024 * 1024;
/** Without a turn budget: the specs of the other limits run every turn's work at once. */
const limits: SessionLimits = { maxPendingReplies: 16, maxUnsentBytes: 4 * MiB, maxTurnReplies: Infinity, maxTurnBytes: Infinity };

function open(
  commands: ScriptedCommands,
  clock = (): number => Date.now(),
  options: { limits?: SessionLimits; nextTurn?: (resume: () => void) => void } = {},
): { session: ProtocolSession; transport: PeerTransport } {
  const transport = new PeerTransport();
  const logger = Logger.create({ level: 'error' });
  const session = new ProtocolSession(transport, {
    executor: commands,
    stats: new CommandStats(),
    protocol: MERKLEKV_SESSION_PROTOCOL,
    logger,
    limits: options.limits ?? limits,
    clock,
    nextTurn: options.nextTurn,
  });
  return { session, transport };
}

/** Event-loop turns the test runs by hand: what the session left for the next turn. */
class Turns {
  private readonly waiting: (() => void)[] = [];
  readonly nextTurn = (resume: () => void): void => void this.waiting.push(resume);
  get scheduled(): number {
    return this.waiting.length;
  }
  /** Runs what was left for the next turn (and not what that schedules in turn). */
  run(): void {
    for (const resume of this.waiting.splice(0)) resume();
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ProtocolSession', () => {
  it('stops executing a chunk of pipelined GETs once the reply budget is full, and finishes them in order as the peer reads', () => {
    const commands = new ScriptedCommands();
    const valueBytes = 256 * 1024;
    commands.values.set('big', Buffer.alloc(valueBytes, 'v'));
    const { session, transport } = open(commands);
    const requests = 1000;
    session.receive(Buffer.from('GET big\r\n'.repeat(requests)));

    // One reply past the budget at most, not one reply per request.
    const bound = limits.maxUnsentBytes + valueBytes + 16;
    expect(transport.unsentBytes).toBeLessThan(bound);
    expect(commands.count('GET')).toBeLessThanOrEqual(limits.maxUnsentBytes / valueBytes + 1);
    expect(transport.paused).toBe(true);

    let replies = 0;
    for (let reads = 0; replies < requests && reads < requests; reads++) {
      replies += transport.take().split('VALUE ').length - 1;
      session.writable();
    }
    expect(transport.peakUnsent).toBeLessThan(bound);
    expect(replies).toBe(requests);
    expect(commands.count('GET')).toBe(requests);
    expect(transport.paused).toBe(false);
  });

  it('answers later requests of the chunk after the held ones, in request order', () => {
    const commands = new ScriptedCommands();
    commands.values.set('big', Buffer.alloc(MiB, 'v'));
    commands.values.set('small', Buffer.from('s'));
    const { session, transport } = open(commands);
    session.receive(Buffer.from(`${'GET big\r\n'.repeat(10)}GET small\r\nPING last\r\nBAD\r\n`));
    let text = '';
    for (let i = 0; i < 20 && !text.endsWith('ERROR Unknown command: BAD\r\n'); i++) {
      text += transport.take();
      session.writable();
    }
    const lines = text.split('\r\n').map((line) => (line.startsWith('VALUE v') ? 'VALUE big' : line));
    expect(lines).toEqual([...Array<string>(10).fill('VALUE big'), 'VALUE s', 'PONG last', 'ERROR Unknown command: BAD', '']);
  });

  it('makes a read wait for the writes before it, and keeps replies in request order when writes finish out of order', async () => {
    const commands = new ScriptedCommands();
    commands.holdWrites = true;
    const { session, transport } = open(commands);
    session.receive(Buffer.from('SET a 1\r\nSET b 2\r\nGET a\r\nPING\r\n'));
    expect(commands.count('SET')).toBe(2);
    expect(commands.count('GET')).toBe(0);
    expect(transport.paused).toBe(true);

    commands.unfinished[1]!();
    await settle();
    expect(commands.count('GET')).toBe(0);
    expect(transport.take()).toBe('');

    commands.unfinished[0]!();
    await settle();
    expect(transport.take()).toBe('OK\r\nOK\r\nVALUE 1\r\nPONG\r\n');
    expect(transport.paused).toBe(false);
  });

  it('runs reads while earlier reads are pending, but not past a pending write, and answers in request order', async () => {
    const commands = new ScriptedCommands();
    commands.values.set('slow:a', Buffer.from('1'));
    commands.values.set('b', Buffer.from('2'));
    const { session, transport } = open(commands);
    commands.holdWrites = true;
    session.receive(Buffer.from('GET slow:a\r\nGET b\r\nGET slow:a\r\nSET b 3\r\nGET b\r\n'));
    // Three reads and the write ran; the read after the write waits for it.
    expect(commands.count('GET')).toBe(3);
    expect(commands.count('SET')).toBe(1);
    expect(transport.take()).toBe('');
    const [firstRead, secondRead, write] = commands.unfinished.splice(0);
    secondRead!();
    firstRead!();
    await settle();
    expect(transport.take()).toBe('VALUE 1\r\nVALUE 2\r\nVALUE 1\r\n');
    expect(commands.count('GET')).toBe(3);
    write!();
    await settle();
    expect(transport.take()).toBe('OK\r\nVALUE 3\r\n');
  });

  it('admits at most maxPendingReplies unfinished writes and reads again as they finish', async () => {
    const commands = new ScriptedCommands();
    commands.holdWrites = true;
    const { session, transport } = open(commands);
    session.receive(Buffer.from('SET k v\r\n'.repeat(100)));
    expect(commands.count('SET')).toBe(limits.maxPendingReplies);
    expect(transport.paused).toBe(true);
    while (commands.unfinished.length > 0) {
      commands.unfinished.shift()!();
      await settle();
    }
    expect(commands.count('SET')).toBe(100);
    expect(transport.take()).toBe('OK\r\n'.repeat(100));
    expect(transport.paused).toBe(false);
  });

  it('counts the values of unfinished writes in the budget', async () => {
    const commands = new ScriptedCommands();
    commands.holdWrites = true;
    const { session, transport } = open(commands);
    const valueBytes = 512 * 1024;
    const requests = 40;
    session.receive(Buffer.from(`SET big ${'v'.repeat(valueBytes)}\r\n`.repeat(requests)));
    expect(commands.count('SET')).toBeLessThanOrEqual(limits.maxUnsentBytes / valueBytes + 1);
    while (commands.unfinished.length > 0) {
      commands.unfinished.shift()!();
      await settle();
    }
    expect(commands.count('SET')).toBe(requests);
    expect(transport.take()).toBe('OK\r\n'.repeat(requests));
  });

  it('ends a watch with the next line, which is not executed', () => {
    const commands = new ScriptedCommands();
    const { session, transport } = open(commands);
    session.receive(Buffer.from('WATCH p\r\n'));
    commands.watchListener!({ kind: 'deleted', key: 'p1' });
    session.receive(Buffer.from('GET p1\r\nPING\r\n'));
    expect(transport.take()).toBe('WATCHING p\r\nDELETED p1\r\nEND\r\nPONG\r\n');
    expect(commands.count('GET')).toBe(0);
    expect(commands.watchListener).toBeUndefined();
  });

  it('sends the reply to an over-long line after the replies before it, then closes', () => {
    const commands = new ScriptedCommands();
    const { session, transport } = open(commands);
    session.receive(Buffer.from(`PING\r\n${'x'.repeat(1024 * 1024 + 1)}`));
    expect(transport.take()).toBe('PONG\r\nERROR line too long\r\n');
    expect(transport.ended).toBe(true);
  });

  it('lets the replies owed go out before closing on drain, and drops what was not admitted', async () => {
    const commands = new ScriptedCommands();
    commands.holdWrites = true;
    const { session, transport } = open(commands);
    session.receive(Buffer.from('SET a 1\r\nGET a\r\n'));
    const drained = session.drain();
    expect(transport.ended).toBe(false);
    commands.unfinished[0]!();
    await settle();
    expect(transport.take()).toBe('OK\r\n');
    expect(transport.ended).toBe(true);
    session.closed();
    await drained;
    expect(commands.count('GET')).toBe(0);
  });

  describe('turn budget', () => {
    const turnLimits: SessionLimits = { ...limits, maxTurnReplies: 1000, maxTurnBytes: 3000 };
    /** `VALUE <1000 bytes>\r\n` */
    const replyBytes = 1008;

    it('stops producing replies once the turn has its bytes, and goes on in the next turn, in order', () => {
      const commands = new ScriptedCommands();
      commands.values.set('k', Buffer.alloc(1000, 'v'));
      const turns = new Turns();
      const { session, transport } = open(commands, undefined, { limits: turnLimits, nextTurn: turns.nextTurn });
      session.receive(Buffer.from(`${'GET k\r\n'.repeat(10)}PING end\r\n`));

      // The reply that fills the budget is the turn's last: three of 1008 bytes pass 3000.
      expect(commands.count('GET')).toBe(Math.ceil(turnLimits.maxTurnBytes / replyBytes));
      expect(transport.unsentBytes).toBe(3 * replyBytes);
      // The chunk's other requests wait, and the socket is not read meanwhile.
      expect(transport.paused).toBe(true);
      expect(turns.scheduled).toBe(1);

      const perTurn: number[] = [];
      while (turns.scheduled > 0) {
        const before = commands.count('GET');
        turns.run();
        perTurn.push(commands.count('GET') - before);
      }
      expect(perTurn).toEqual([3, 3, 1]);
      expect(transport.take()).toBe(`${`VALUE ${'v'.repeat(1000)}\r\n`.repeat(10)}PONG end\r\n`);
      expect(transport.paused).toBe(false);
    });

    it('bounds a turn by replies too, however small they are', () => {
      const commands = new ScriptedCommands();
      const turns = new Turns();
      const { session, transport } = open(commands, undefined, { limits: { ...limits, maxTurnReplies: 4, maxTurnBytes: MiB }, nextTurn: turns.nextTurn });
      session.receive(Buffer.from('PING\r\n'.repeat(10)));
      expect(transport.take()).toBe('PONG\r\n'.repeat(4));
      turns.run();
      expect(transport.take()).toBe('PONG\r\n'.repeat(4));
      turns.run();
      expect(transport.take()).toBe('PONG\r\n'.repeat(2));
      expect(turns.scheduled).toBe(0);
    });

    it('does not go on in the same turn when the peer takes every reply at once (drain right after the write)', () => {
      const commands = new ScriptedCommands();
      commands.values.set('k', Buffer.alloc(1000, 'v'));
      const turns = new Turns();
      const { session, transport } = open(commands, undefined, { limits: turnLimits, nextTurn: turns.nextTurn });
      session.receive(Buffer.from('GET k\r\n'.repeat(10)));
      const firstTurn = commands.count('GET');
      // A socket whose writes the kernel took signals 'drain' before the event loop moves on.
      for (let i = 0; i < 5; i++) {
        transport.take();
        session.writable();
      }
      expect(commands.count('GET')).toBe(firstTurn);
      turns.run();
      expect(commands.count('GET')).toBe(2 * firstTurn);
    });

    it('counts replies that settle later, so a turn holds one budget in all', async () => {
      const commands = new ScriptedCommands();
      commands.values.set('slow:k', Buffer.alloc(1000, 'v'));
      commands.values.set('k', Buffer.alloc(1000, 'v'));
      const turns = new Turns();
      const { session, transport } = open(commands, undefined, { limits: turnLimits, nextTurn: turns.nextTurn });
      session.receive(Buffer.from('GET slow:k\r\nGET slow:k\r\nGET slow:k\r\n'));
      expect(turns.scheduled).toBe(0);
      for (const finish of commands.unfinished.splice(0)) finish();
      await settle();
      expect(transport.unsentBytes).toBe(3 * replyBytes);
      expect(turns.scheduled).toBe(1);
      session.receive(Buffer.from('GET k\r\n'));
      expect(commands.count('GET')).toBe(3);
      turns.run();
      expect(commands.count('GET')).toBe(4);
    });

    it('yields in setImmediate by default, so other connections run between two slices of a flood', async () => {
      const commands = new ScriptedCommands();
      commands.values.set('k', Buffer.alloc(1000, 'v'));
      const { session } = open(commands, undefined, { limits: turnLimits });
      session.receive(Buffer.from('GET k\r\n'.repeat(9)));
      expect(commands.count('GET')).toBe(3);
      await new Promise((resolve) => setImmediate(resolve));
      expect(commands.count('GET')).toBeGreaterThan(3);
      await settle();
      await settle();
      expect(commands.count('GET')).toBe(9);
    });
  });

  it('writes a large value as it is stored, beside its framing, rather than copying it', () => {
    const commands = new ScriptedCommands();
    const value = Buffer.alloc(MiB, 'v');
    commands.values.set('big', value);
    commands.values.set('bad', Buffer.concat([value, Buffer.from('\n')]));
    const { session, transport } = open(commands);
    session.receive(Buffer.from('GET big\r\nGET bad\r\nGET big\r\n'));
    expect(transport.writes.filter((piece) => piece === value)).toHaveLength(2);
    const text = transport.take();
    expect(text.startsWith(`VALUE ${value.toString()}\r\nERROR `)).toBe(true);
    expect(text.endsWith(`\r\nVALUE ${value.toString()}\r\n`)).toBe(true);
  });

  describe('overdue', () => {
    const timeouts = { idleMs: 300_000, requestMs: 60_000 };
    const at = { now: 0 };
    const clock = (): number => at.now;
    beforeEach(() => {
      at.now = 1_000_000;
    });

    it('is idle once no request came and no reply was taken for idleMs', () => {
      const { session, transport } = open(new ScriptedCommands(), clock);
      session.receive(Buffer.from('PING\r\n'));
      at.now += 200_000;
      transport.take();
      session.writable();
      at.now += timeouts.idleMs - 1;
      expect(session.overdue(timeouts)).toBeUndefined();
      at.now += 1;
      expect(session.overdue(timeouts)).toBe('idle');
      expect(session.overdue({ ...timeouts, idleMs: 0 })).toBeUndefined();
    });

    it('bounds how long a request may take to complete, however its bytes trickle in, even with no idle limit', () => {
      const { session } = open(new ScriptedCommands(), clock);
      const noIdleLimit = { ...timeouts, idleMs: 0 };
      for (const byte of 'PIN') {
        session.receive(Buffer.from(byte));
        at.now += timeouts.requestMs / 3;
      }
      expect(session.overdue(noIdleLimit)).toBe('incomplete request');
      session.receive(Buffer.from('G\r\nPI'));
      expect(session.overdue(noIdleLimit)).toBeUndefined();
      at.now += timeouts.requestMs;
      expect(session.overdue(noIdleLimit)).toBe('incomplete request');
    });

    it('is not idle while a watch runs or a command has not finished', () => {
      const commands = new ScriptedCommands();
      const { session } = open(commands, clock);
      session.receive(Buffer.from('WATCH\r\n'));
      at.now += 10 * timeouts.idleMs;
      expect(session.overdue(timeouts)).toBeUndefined();
      session.receive(Buffer.from('\r\n'));
      commands.holdWrites = true;
      session.receive(Buffer.from('SET k v\r\n'));
      at.now += 10 * timeouts.idleMs;
      expect(session.overdue(timeouts)).toBeUndefined();
      commands.unfinished[0]!();
    });
  });
});
