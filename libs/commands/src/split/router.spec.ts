import fc from 'fast-check';
import { type Keyspace, MemoryEngine, Store } from '#store';
import { ClientRegistry } from '../clients.js';
import { type Command, type CommandName, type CommandOf } from '../command.js';
import { CommandExecutor } from '../executor.js';
import { CommandStats } from '../stats.js';
import { isKvError } from '../errors.js';
import { ShardRouter, type ShardChannel } from './router.js';
import { ShardService } from './shard-service.js';
import { decodeShardRequest, encodeShardReply, encodeShardRequest, MAX_LEAF_PAGE } from './wire.js';

const SHARDS = 8;
const INBOX_PREFIX = 'test.watch.';
const LIMITS = { maxValueBytes: 64 * 1024 };
const server = { version: '1.0.0', startedAt: 0, requestShutdown: () => undefined, describe: () => [] };

function executorOver(store: Keyspace): CommandExecutor {
  return new CommandExecutor({ store, stats: new CommandStats(), clients: new ClientRegistry(), server, limits: LIMITS });
}

/** Two store-shard processes (even and odd shards) behind a router, every message through JSON. */
async function splitDeployment(): Promise<{ router: ShardRouter; stores: Store[]; channel: ShardChannel }> {
  const stores = await Promise.all([0, 1].map((i) => Store.open({ engine: new MemoryEngine(), shards: SHARDS, nodeId: `s${i}` })));
  const inboxes = new Map<string, (message: unknown) => void>();
  const watches = { subjectPrefix: INBOX_PREFIX, publish: (subject: string, message: unknown) => inboxes.get(subject)?.(JSON.parse(JSON.stringify(message))) };
  const services = stores.map(
    (store, i) =>
      new ShardService({
        store,
        hosted: Array.from({ length: SHARDS }, (_, s) => s).filter((s) => s % 2 === i),
        commandsFor: executorOver,
        watches,
      }),
  );
  const channel: ShardChannel = {
    request: async (shard, message) => {
      const delivered: unknown = JSON.parse(JSON.stringify(message));
      return JSON.parse(JSON.stringify(await services[shard % 2]!.handle(shard, delivered)));
    },
    openInbox: (onMessage) => {
      const subject = `${INBOX_PREFIX}${inboxes.size}`;
      inboxes.set(subject, onMessage);
      return Promise.resolve({ subject, close: () => inboxes.delete(subject) });
    },
  };
  const router = new ShardRouter({ shards: SHARDS, channel, stats: new CommandStats(), clients: new ClientRegistry(), server, limits: LIMITS });
  return { router, stores, channel };
}

async function outcome<N extends CommandName>(port: { execute(c: CommandOf<N>): unknown }, command: CommandOf<N>): Promise<unknown> {
  try {
    return { ok: await port.execute(command) };
  } catch (err) {
    if (isKvError(err)) return { error: err.code };
    throw err;
  }
}

const key = fc.constantFrom('a', 'b', 'ab', 'abc', 'b:1', 'b:2', 'c', 'counter', 'n', 'z', 'é', 'x y'.replace(' ', '_'));
const value = fc.uint8Array({ maxLength: 12 }).map((b) => new Uint8Array(b));
const expiresAtArb = expiryArb();
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  key.map((k) => ({ name: 'GET', key: k }) as const),
  fc.tuple(key, value).map(([k, v]) => ({ name: 'SET', key: k, value: v }) as const),
  fc.tuple(key, fc.constantFrom('1', '42', '-7', '9223372036854775807')).map(([k, n]) => ({ name: 'SET', key: k, value: Buffer.from(n) }) as const),
  key.map((k) => ({ name: 'DEL', key: k }) as const),
  fc.tuple(key, fc.bigInt({ min: -100n, max: 100n })).map(([k, amount]) => ({ name: 'INCR', key: k, amount }) as const),
  fc.tuple(key, value).map(([k, v]) => ({ name: 'APPEND', key: k, value: v }) as const),
  fc.tuple(key, value).map(([k, v]) => ({ name: 'PREPEND', key: k, value: v }) as const),
  fc.array(key, { minLength: 1, maxLength: 5 }).map((keys) => ({ name: 'MGET', keys }) as const),
  fc.array(key, { minLength: 1, maxLength: 5 }).map((keys) => ({ name: 'EXISTS', keys }) as const),
  fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 4 }).map((pairs) => ({ name: 'MSET', pairs }) as const),
  fc.tuple(fc.constantFrom('', 'a', 'b:', 'zz'), fc.option(key, { nil: undefined }), fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined })).map(
    ([prefix, after, limit]) => ({ name: 'SCAN', prefix, ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) }) as const,
  ),
  fc.constant({ name: 'DBSIZE' } as const),
  fc.constant({ name: 'MEMORY' } as const),
  fc.constantFrom(undefined, '*', 'a', 'b:').map((pattern) => ({ name: 'HASH', ...(pattern === undefined ? {} : { pattern }) }) as const),
  fc.constant({ name: 'TRUNCATE' } as const),
  // Item commands: CAS values differ between stores (they derive from stamps), so the one given
  // never matches, and `comparable` leaves them out of the results.
  fc
    .record({
      key,
      value,
      mode: fc.constantFrom('set', 'add', 'replace', 'append', 'prepend'),
      cas: fc.option(fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), { nil: undefined }),
      flags: fc.option(fc.constantFrom(0, 7, 2 ** 32 - 1), { nil: undefined }),
      expiresAt: expiresAtArb,
    })
    .map((c) => ({ name: 'STORE', ...defined(c) }) as Command),
  fc.tuple(key, fc.option(fc.bigInt({ min: 1n, max: 9n }), { nil: undefined })).map(([k, cas]) => ({ name: 'REMOVE', key: k, ...defined({ cas }) }) as Command),
  fc.tuple(key, expiresAtArb).map(([k, expiresAt]) => ({ name: 'TOUCH', key: k, ...defined({ expiresAt }) }) as Command),
  fc
    .tuple(key, fc.bigInt({ min: -100n, max: 100n }), fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined }))
    .map(([k, delta, initial]) => ({ name: 'ADJUST', key: k, delta, ...(initial === undefined ? {} : { initial: { value: initial } }) }) as Command),
  fc.array(key, { minLength: 1, maxLength: 5 }).map((keys) => ({ name: 'LOOKUP', keys }) as const),
);

/** An expiry long past, far ahead, or none. */
function expiryArb(): fc.Arbitrary<number | undefined> {
  return fc.constantFrom(undefined, 1, 2 ** 47);
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A result with its CAS values left out (they differ between stores of different node ids). */
function comparable(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(comparable);
  if (x instanceof Uint8Array || typeof x !== 'object' || x === null) return x;
  return Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'cas').map(([k, v]) => [k, comparable(v)]));
}

describe('split deployment: router and shard service', () => {
  it('answers every command sequence exactly as one in-process executor does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 40 }), async (commands) => {
        const whole = await Store.open({ engine: new MemoryEngine(), shards: SHARDS, nodeId: 'w' });
        const single = executorOver(whole);
        const split = await splitDeployment();
        try {
          for (const command of commands) {
            expect(comparable(await outcome(split.router, command))).toEqual(comparable(await outcome(single, command)));
          }
        } finally {
          await whole.close();
          await Promise.all(split.stores.map((s) => s.close()));
        }
      }),
      { numRuns: 60, seed: 20261123 },
    );
  });

  it('hashes a keyspace larger than one page of leaves like the in-process HASH', async () => {
    const whole = await Store.open({ engine: new MemoryEngine(), shards: SHARDS, nodeId: 'w' });
    const split = await splitDeployment();
    try {
      const pairs: [string, Uint8Array][] = Array.from({ length: 3 * MAX_LEAF_PAGE + 17 }, (_, i) => [`k${i}`, Buffer.from(`v${i}`)]);
      await executorOver(whole).execute({ name: 'MSET', pairs });
      await split.router.execute({ name: 'MSET', pairs });
      expect(await split.router.execute({ name: 'HASH' })).toBe(await executorOver(whole).execute({ name: 'HASH' }));
    } finally {
      await whole.close();
      await Promise.all(split.stores.map((s) => s.close()));
    }
  });

  it('adds the gateway counters to the shards\' keyspace figures in STATS and INFO', async () => {
    const split = await splitDeployment();
    try {
      await split.router.execute({ name: 'MSET', pairs: [['a', Buffer.from('12345')], ['b', Buffer.from('6')]] });
      const stats = new Map(await split.router.execute({ name: 'STATS' }));
      expect(stats.get('keys')).toBe('2');
      expect(stats.get('data_bytes')).toBe(String(split.stores[0]!.dataBytes + split.stores[1]!.dataBytes));
      expect(stats.get('bulk_commands')).toBe('1');
      const info = await split.router.execute({ name: 'INFO' });
      expect(info.at(-1)).toEqual(['db_keys', '2']);
      expect(new Map(info).get('shards')).toBe(String(SHARDS));
    } finally {
      await Promise.all(split.stores.map((s) => s.close()));
    }
  });

  it('streams the changes of every shard to one watch, reporting a truncation once', async () => {
    const split = await splitDeployment();
    try {
      const feed = await split.router.execute({ name: 'WATCH', prefix: 'w:' });
      const events: unknown[] = [];
      await split.router.execute({ name: 'MSET', pairs: [['w:1', Buffer.from('a')], ['w:2', Buffer.from('b')], ['x', Buffer.from('c')]] });
      feed.start((event) => events.push(event));
      await split.router.execute({ name: 'DEL', key: 'w:1' });
      await split.router.execute({ name: 'TRUNCATE' });
      feed.stop();
      await split.router.execute({ name: 'SET', key: 'w:3', value: Buffer.from('late') });
      expect(events).toEqual(
        expect.arrayContaining([
          { kind: 'change', key: 'w:1', value: new Uint8Array(Buffer.from('a')) },
          { kind: 'change', key: 'w:2', value: new Uint8Array(Buffer.from('b')) },
          { kind: 'deleted', key: 'w:1' },
        ]),
      );
      expect(events.filter((e) => (e as { kind: string }).kind === 'truncated')).toHaveLength(1);
      expect(events).toHaveLength(4);
    } finally {
      await Promise.all(split.stores.map((s) => s.close()));
    }
  });

  it('names the shard that does not answer', async () => {
    const split = await splitDeployment();
    try {
      const router = new ShardRouter({
        shards: SHARDS,
        channel: {
          request: (shard, message) => (shard === 3 ? Promise.reject(new Error('503 no responders')) : split.channel.request(shard, message)),
          openInbox: (onMessage) => split.channel.openInbox(onMessage),
        },
        stats: new CommandStats(),
        clients: new ClientRegistry(),
        server,
        limits: LIMITS,
      });
      await expect(router.execute({ name: 'DBSIZE' })).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'shard 3 did not answer: 503 no responders' });
    } finally {
      await Promise.all(split.stores.map((s) => s.close()));
    }
  });
});

describe('the shard wire', () => {
  let store: Store;
  let service: ShardService;
  beforeEach(async () => {
    store = await Store.open({ engine: new MemoryEngine(), shards: SHARDS, nodeId: 's' });
    service = new ShardService({ store, hosted: [0, 1, 2], commandsFor: executorOver, watches: { subjectPrefix: INBOX_PREFIX, publish: () => undefined } });
  });
  afterEach(() => store.close());

  const refusal = async (shard: number, message: unknown): Promise<unknown> => service.handle(shard, message);

  it.each<[string, unknown]>([
    ['not an object', 'GET a'],
    ['another version', { v: 99, op: 'figures' }],
    ['an unknown op', { v: 1, op: 'drop' }],
    ['a command no shard serves', { v: 1, op: 'command', command: { name: 'SHUTDOWN' } }],
    ['a value that is not bytes', { v: 1, op: 'command', command: { name: 'SET', key: 'k', value: 'plain' } }],
    ['an amount beyond 64 bits', { v: 1, op: 'command', command: { name: 'INCR', key: 'k', amount: { $n: '1'.repeat(30) } } }],
    ['an empty MSET', { v: 1, op: 'command', command: { name: 'MSET', pairs: [] } }],
    ['a huge leaf page', { v: 1, op: 'leaves', prefix: '', limit: MAX_LEAF_PAGE + 1 }],
    ['a watch that would push onto another subject', { v: 1, op: 'watch', prefix: '', to: 'merklekv.merkle_kv.changes.3' }],
    ['a watch that would push to a wildcard', { v: 1, op: 'watch', prefix: '', to: `${INBOX_PREFIX}>` }],
  ])('refuses %s with BAD_REQUEST and changes nothing', async (_what, message) => {
    expect(await refusal(0, message)).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(store.liveKeys).toBe(0);
  });

  it('refuses a key of another shard, and a shard it does not host', async () => {
    const foreign = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => store.shardOf(k) === 5)!;
    expect(await refusal(0, encodeShardRequest({ op: 'command', command: { name: 'SET', key: foreign, value: Buffer.from('v') } }))).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
    expect(await refusal(5, encodeShardRequest({ op: 'figures' }))).toMatchObject({ ok: false, code: 'UNAVAILABLE' });
    expect(store.liveKeys).toBe(0);
  });

  it('round-trips requests through JSON', () => {
    const request = { op: 'command', command: { name: 'MSET', pairs: [['k', new Uint8Array([0, 255, 10])]] } } as const;
    expect(decodeShardRequest(JSON.parse(JSON.stringify(encodeShardRequest(request))))).toEqual({
      op: 'command',
      command: { name: 'MSET', pairs: [['k', new Uint8Array([0, 255, 10])]] },
    });
    expect(encodeShardReply({ error: new Error('disk gone') })).toEqual({ ok: false, code: 'STORAGE', message: 'disk gone' });
  });
});
