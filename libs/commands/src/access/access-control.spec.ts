import { hashPassword, parsePasswordHash, type PasswordHash, type UserConfig } from '#config';
import { type Command } from '../command.js';
import { isKvError } from '../errors.js';
import { bytes, executorFixture, type ExecutorFixture, str } from '../testing/executor-fixture.js';
import { AccessControl, BAD_CREDENTIALS, type GuardedPort } from './access-control.js';

const PARAMS = { logN: 10, r: 8, p: 1 };

async function hashed(password: string): Promise<PasswordHash> {
  const parsed = parsePasswordHash(await hashPassword(password, PARAMS));
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}
let f: ExecutorFixture;
let users: UserConfig[];

beforeAll(async () => {
  const hash = await hashed('app-pw');
  users = [
    { name: 'app', password: hash, tokens: [], permissions: [{ prefix: 'app:', access: 'write' }, { prefix: 'pub:', access: 'read' }] },
    { name: 'ops', password: await hashed('ops-pw'), tokens: [], permissions: [{ prefix: '', access: 'admin' }] },
    { name: 'tenant-admin', password: hash, tokens: [], permissions: [{ prefix: 't:', access: 'admin' }] },
  ];
});
beforeEach(async () => {
  f = await executorFixture();
});
afterEach(() => f.close());

/** The error code a command ends with, or 'ok'. */
async function outcome(port: GuardedPort, command: Command): Promise<string> {
  try {
    await port.execute(command);
    return 'ok';
  } catch (err) {
    if (isKvError(err)) return err.code;
    throw err;
  }
}

async function signedIn(name: string, password: string): Promise<GuardedPort> {
  const port = new AccessControl(users).guard(f.executor);
  await port.execute({ name: 'AUTH', user: name, password });
  return port;
}

describe('with no users', () => {
  it('lets every command through, and AUTH says there is nothing to sign in to', async () => {
    const port = new AccessControl([]).guard(f.executor);
    expect(await outcome(port, { name: 'SET', key: 'k', value: bytes('v') })).toBe('ok');
    expect(await outcome(port, { name: 'TRUNCATE' })).toBe('ok');
    await expect(Promise.resolve().then(() => port.execute({ name: 'AUTH', user: 'a', password: 'b' }))).rejects.toThrow('no users are configured');
  });
});

describe('before AUTH', () => {
  it('answers only PING, VERSION and AUTH', async () => {
    const port = new AccessControl(users).guard(f.executor);
    expect(await outcome(port, { name: 'PING' })).toBe('ok');
    expect(await outcome(port, { name: 'VERSION' })).toBe('ok');
    for (const command of [{ name: 'GET', key: 'app:x' }, { name: 'INFO' }, { name: 'ECHO', message: 'x' }, { name: 'SCAN', prefix: '' }] as const) {
      expect(await outcome(port, command)).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a wrong password and an unknown user with the same message', async () => {
    const control = new AccessControl(users);
    const wrong = control.signIn('app', 'nope').catch((err: Error) => err.message);
    const unknown = control.signIn('nobody', 'app-pw').catch((err: Error) => err.message);
    expect(await wrong).toBe(BAD_CREDENTIALS);
    expect(await unknown).toBe(BAD_CREDENTIALS);
  });

  it('runs commands pipelined behind AUTH after it, in order', async () => {
    const port = new AccessControl(users).guard(f.executor);
    const auth = port.execute({ name: 'AUTH', user: 'app', password: 'app-pw' });
    const set = port.execute({ name: 'SET', key: 'app:k', value: bytes('v') });
    const get = port.execute({ name: 'GET', key: 'app:k' });
    await auth;
    await set;
    expect(str(await get)).toBe('v');
  });
  it('runs an AUTH pipelined behind a failed one before the commands that follow both', async () => {
    const port = new AccessControl(users).guard(f.executor);
    const wrong = outcome(port, { name: 'AUTH', user: 'app', password: 'nope' });
    const right = outcome(port, { name: 'AUTH', user: 'app', password: 'app-pw' });
    const set = outcome(port, { name: 'SET', key: 'app:k', value: bytes('v') });
    expect([await wrong, await right, await set]).toEqual(['UNAUTHENTICATED', 'ok', 'ok']);
  });
});

describe('a signed-in user', () => {
  it('reads and writes under its prefixes, and nothing else', async () => {
    const app = await signedIn('app', 'app-pw');
    expect(await outcome(app, { name: 'SET', key: 'app:k', value: bytes('v') })).toBe('ok');
    expect(await outcome(app, { name: 'GET', key: 'pub:k' })).toBe('ok');
    expect(await outcome(app, { name: 'SET', key: 'pub:k', value: bytes('v') })).toBe('FORBIDDEN');
    expect(await outcome(app, { name: 'GET', key: 'other' })).toBe('FORBIDDEN');
    expect(await outcome(app, { name: 'INCR', key: 'other', amount: 1n })).toBe('FORBIDDEN');
    expect(await f.run({ name: 'EXISTS', keys: ['other'] })).toBe(0);
  });

  it('is refused a whole MGET or MSET when one key is outside its prefixes', async () => {
    const app = await signedIn('app', 'app-pw');
    expect(await outcome(app, { name: 'MGET', keys: ['app:a', 'pub:b'] })).toBe('ok');
    expect(await outcome(app, { name: 'MGET', keys: ['app:a', 'secret'] })).toBe('FORBIDDEN');
    expect(await outcome(app, { name: 'MSET', pairs: [['app:a', bytes('1')], ['secret', bytes('2')]] })).toBe('FORBIDDEN');
    expect(await f.run({ name: 'EXISTS', keys: ['app:a'] })).toBe(0);
  });

  it('lists, hashes and watches only within a prefix it holds whole', async () => {
    const app = await signedIn('app', 'app-pw');
    expect(await outcome(app, { name: 'SCAN', prefix: 'app:' })).toBe('ok');
    expect(await outcome(app, { name: 'SCAN', prefix: 'app:sub' })).toBe('ok');
    expect(await outcome(app, { name: 'SCAN', prefix: 'ap' })).toBe('FORBIDDEN');
    expect(await outcome(app, { name: 'SCAN', prefix: '' })).toBe('FORBIDDEN');
    expect(await outcome(app, { name: 'HASH', pattern: 'pub:' })).toBe('ok');
    expect(await outcome(app, { name: 'HASH', pattern: '*' })).toBe('FORBIDDEN');
    expect(await outcome(app, { name: 'WATCH', prefix: '' })).toBe('FORBIDDEN');
  });

  it('needs admin on every key for node-wide commands', async () => {
    const app = await signedIn('app', 'app-pw');
    const tenant = await signedIn('tenant-admin', 'app-pw');
    const ops = await signedIn('ops', 'ops-pw');
    for (const command of [{ name: 'TRUNCATE' }, { name: 'SHUTDOWN' }, { name: 'CLIENT_LIST' }, { name: 'REPLICATE', action: 'status' }] as const) {
      expect(await outcome(app, command)).toBe('FORBIDDEN');
      expect(await outcome(tenant, command)).toBe('FORBIDDEN');
    }
    expect(f.shutdowns.count).toBe(0);
    expect(await outcome(ops, { name: 'TRUNCATE' })).toBe('ok');
    expect(await outcome(tenant, { name: 'SET', key: 't:x', value: bytes('v') })).toBe('ok');
  });

  it('stays signed in after a failed AUTH', async () => {
    const app = await signedIn('app', 'app-pw');
    expect(await outcome(app, { name: 'AUTH', user: 'ops', password: 'wrong' })).toBe('UNAUTHENTICATED');
    expect(app.user).toBe('app');
  });
});

describe('failed sign-ins from one address', () => {
  const LIMITS = { burst: 3, refillMs: 10_000, maxSources: 2 };
  let now: number;
  let control: AccessControl;
  beforeEach(() => {
    now = 0;
    control = new AccessControl(users, LIMITS, () => now);
  });
  const attempt = (password: string, source: string): Promise<string> =>
    control.signIn('app', password, source).then(
      (p) => p.name,
      (err: Error) => err.message,
    );

  it('are refused at once beyond the burst, the right password too, until one leaks away', async () => {
    for (let i = 0; i < 3; i++) expect(await attempt('nope', '10.0.0.1')).toBe(BAD_CREDENTIALS);
    expect(await attempt('app-pw', '10.0.0.1')).toBe('too many failed sign-ins from this address: try again in 10 s');
    expect(await attempt('app-pw', '10.0.0.2')).toBe('app');
    now += 10_000;
    expect(await attempt('app-pw', '10.0.0.1')).toBe('app');
  });

  it('cost nothing when right: a good password never fills the bucket', async () => {
    for (let i = 0; i < 5; i++) expect(await attempt('app-pw', '10.0.0.1')).toBe('app');
    for (let i = 0; i < 3; i++) expect(await attempt('nope', '10.0.0.1')).toBe(BAD_CREDENTIALS);
  });

  it('of one pair checked together share one check, and one charge', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => attempt('nope', '10.0.0.1')));
    expect(results).toEqual(Array(6).fill(BAD_CREDENTIALS));
    expect(await attempt('other', '10.0.0.1')).toBe(BAD_CREDENTIALS);
    expect(await attempt('third', '10.0.0.1')).toBe(BAD_CREDENTIALS);
    expect(await attempt('app-pw', '10.0.0.1')).toMatch(/^too many failed sign-ins/);
  });

  it('count per connection address through a guard, and leave an address without one unlimited', async () => {
    for (let i = 0; i < 3; i++) {
      const port = control.guard(f.executor, undefined, '10.0.0.9');
      expect(await outcome(port, { name: 'AUTH', user: 'app', password: `wrong-${i}` })).toBe('UNAUTHENTICATED');
    }
    const again = control.guard(f.executor, undefined, '10.0.0.9');
    await expect(Promise.resolve().then(() => again.execute({ name: 'AUTH', user: 'app', password: 'app-pw' }))).rejects.toThrow('too many failed sign-ins');
    for (let i = 0; i < 5; i++) await expect(control.signIn('app', `wrong-${i}`)).rejects.toThrow(BAD_CREDENTIALS);
  });
});
