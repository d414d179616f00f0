/**
 * Authentication and authorisation for every protocol, in one place.
 *
 * An adapter gives each client connection (or HTTP request) its own {@link GuardedPort} in front
 * of the shared command port. The guard answers AUTH, remembers who signed in, and checks every
 * other command against {@link NEEDS} before passing it on; a refusal is a {@link KvError}
 * (`UNAUTHENTICATED` or `FORBIDDEN`) that each adapter maps like any other. With no users
 * configured the guard lets everything through, as the node always did.
 *
 * Passwords are checked with scrypt (see #config secrets.ts), about 100 ms of a libuv thread
 * each, so a pair once verified is remembered by its HMAC under a key drawn at start (never the
 * password itself): HTTP Basic sends the password with every request. Unknown users cost the same
 * scrypt as known ones, so timing does not tell which half was wrong; neither does the message.
 * Sign-ins that name their source address are limited per address (see sign-in-limiter.ts).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { DEFAULT_SCRYPT, type PasswordHash, type Permission, tokenDigest, type UserConfig, verifyPassword } from '#config';
import { type CommandName, type CommandOf } from '../command.js';
import { KvError } from '../errors.js';
import { type CommandPort } from '../executor.js';
import { type Reply } from '../handlers.js';
import { type Need, NEEDS } from './rules.js';
import { DEFAULT_SIGN_IN_LIMITS, SignInLimiter, type SignInLimits } from './sign-in-limiter.js';

/** Who a connection or request acts as. */
export interface Principal {
  readonly name: string;
  readonly permissions: readonly Permission[];
}

const RANK = { read: 0, write: 1, admin: 2 } as const;
/** Verified pairs remembered at most; the cache starts over beyond it. */
const MAX_REMEMBERED = 10_000;
export const BAD_CREDENTIALS = 'invalid user name or password';
export const AUTH_REQUIRED = 'authentication required';

const holds = (p: Principal, access: keyof typeof RANK, covers: (prefix: string) => boolean): boolean =>
  p.permissions.some((g) => RANK[g.access] >= RANK[access] && covers(g.prefix));

/** Throws FORBIDDEN unless `principal` may do `what` (a command's name, CLIENT_LIST shown as CLIENT LIST; a route), which needs `need`. */
export function authorize(principal: Principal, what: string, need: Need): void {
  switch (need.kind) {
    case 'open':
    case 'signedIn':
      return;
    case 'keys':
      for (const key of need.keys) {
        if (!holds(principal, need.access, (prefix) => key.startsWith(prefix))) {
          throw new KvError('FORBIDDEN', `user '${principal.name}' may not ${need.access} key '${key}'`);
        }
      }
      return;
    case 'prefix':
      if (!holds(principal, 'read', (prefix) => need.prefix.startsWith(prefix))) {
        throw new KvError('FORBIDDEN', `user '${principal.name}' may not read every key under prefix '${need.prefix}'`);
      }
      return;
    case 'admin':
      if (!holds(principal, 'admin', (prefix) => prefix === '')) {
        throw new KvError('FORBIDDEN', `user '${principal.name}' may not run ${what.replace('_', ' ')}: it needs admin on every key (prefix "")`);
      }
  }
}

export class AccessControl {
  readonly #users: ReadonlyMap<string, UserConfig>;
  readonly #tokens: ReadonlyMap<string, Principal>;
  readonly #remembered = new Map<string, Principal>();
  /** Pairs being checked now, by the same id as #remembered. */
  readonly #checking = new Map<string, Promise<Principal>>();
  readonly #hmacKey = randomBytes(32);
  /** Checked for unknown users, at the cost of a real user's hash, so that they take as long as known ones. */
  readonly #decoy: PasswordHash;
  readonly #limiter: SignInLimiter;

  constructor(users: readonly UserConfig[], limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS, clock: () => number = Date.now) {
    this.#limiter = new SignInLimiter(limits, clock);
    const cost = users.find((u) => u.password)?.password ?? DEFAULT_SCRYPT;
    this.#decoy = { logN: cost.logN, r: cost.r, p: cost.p, salt: randomBytes(16), hash: randomBytes(32) };
    this.#users = new Map(users.map((u) => [u.name, u]));
    this.#tokens = new Map(users.flatMap((u) => u.tokens.map((digest) => [digest.toString('hex'), principalOf(u)] as const)));
  }

  /** Whether anyone must sign in: false with no users configured. */
  get enabled(): boolean {
    return this.#users.size > 0;
  }

  /**
   * The user, if the password is theirs; UNAUTHENTICATED otherwise, not saying which half was
   * wrong. With `source` (the client's address), refused at once while that address has too
   * many failed attempts. Sign-ins of one pair while it is being checked share its check (and
   * its charge), so that many connections opening at once with the same credentials cost one.
   */
  signIn(name: string, password: string, source?: string): Promise<Principal> {
    try {
      if (source !== undefined) this.#limiter.admit(source);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const id = createHmac('sha256', this.#hmacKey).update(name).update('\0').update(password).digest('hex');
    const known = this.#remembered.get(id);
    if (known) return Promise.resolve(known);
    const checking = this.#checking.get(id);
    if (checking) return checking;
    if (source !== undefined) this.#limiter.charge(source);
    const check = this.verify(id, name, password);
    this.#checking.set(id, check);
    void check.then(
      () => {
        this.#checking.delete(id);
        if (source !== undefined) this.#limiter.refund(source);
      },
      () => this.#checking.delete(id),
    );
    return check;
  }

  private async verify(id: string, name: string, password: string): Promise<Principal> {
    const user = this.#users.get(name);
    const matches = await verifyPassword(password, user?.password ?? this.#decoy);
    if (!matches || user?.password === undefined) throw new KvError('UNAUTHENTICATED', BAD_CREDENTIALS);
    if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.clear();
    const principal = principalOf(user);
    this.#remembered.set(id, principal);
    return principal;
  }

  /** The user a bearer token belongs to; UNAUTHENTICATED for any other token. */
  signInWithToken(token: string): Principal {
    const principal = this.#tokens.get(tokenDigest(token).toString('hex'));
    if (!principal) throw new KvError('UNAUTHENTICATED', BAD_CREDENTIALS);
    return principal;
  }

  /** Throws unless `principal` (undefined: nobody signed in) may do `what`, which needs `need`. */
  check(principal: Principal | undefined, what: string, need: Need): void {
    if (!this.enabled || need.kind === 'open') return;
    if (!principal) throw new KvError('UNAUTHENTICATED', AUTH_REQUIRED);
    authorize(principal, what, need);
  }

  /** A port for one connection from `source` (or one request, given who it acts as). */
  guard(port: CommandPort, principal?: Principal, source?: string): GuardedPort {
    return new GuardedPort(this, port, principal, source);
  }
}

const principalOf = (user: UserConfig): Principal => ({ name: user.name, permissions: user.permissions });

/**
 * One client's view of the command port. While an AUTH is being checked, later commands wait for
 * it, so that `AUTH` and the commands pipelined behind it run in the order they were sent.
 */
export class GuardedPort implements CommandPort {
  #pendingAuth: Promise<void> | undefined;

  constructor(
    private readonly control: AccessControl,
    private readonly port: CommandPort,
    private principal: Principal | undefined,
    private readonly source?: string,
  ) {}

  /** Who is signed in, if anyone. */
  get user(): string | undefined {
    return this.principal?.name;
  }

  execute<N extends CommandName>(command: CommandOf<N>): Reply<N> {
    if (!this.control.enabled) return this.port.execute(command);
    const pending = this.#pendingAuth;
    if (command.name === 'AUTH') {
      const { user, password } = command as CommandOf<'AUTH'>;
      // An AUTH pipelined behind another runs after it, and what follows waits for both.
      const result = pending ? pending.then(() => this.auth(user, password)) : this.auth(user, password);
      this.awaitAuth(result);
      return result as Reply<N>;
    }
    if (pending) return pending.then(() => this.run(command)) as Reply<N>;
    return this.run(command);
  }

  /**
   * Throws unless the connection, as signed in now, may run `command` (without running it): for
   * what a protocol does itself on the command's behalf, such as memcached's delayed flush_all.
   */
  authorize<N extends CommandName>(command: CommandOf<N>): void {
    this.control.check(this.principal, command.name, (NEEDS[command.name] as (c: CommandOf<N>) => Need)(command));
  }

  private run<N extends CommandName>(command: CommandOf<N>): Reply<N> {
    this.authorize(command);
    return this.port.execute(command);
  }

  /** A failed AUTH leaves the connection as it was (signed in or not), as Redis does. */
  private auth(user: string, password: string): Promise<void> {
    return this.control.signIn(user, password, this.source).then((principal) => {
      this.principal = principal;
    });
  }

  /** Commands sent after an AUTH wait for it, whatever its outcome. */
  private awaitAuth(auth: Promise<void>): void {
    const settled = auth.then(
      () => undefined,
      () => undefined,
    );
    this.#pendingAuth = settled;
    void settled.then(() => {
      if (this.#pendingAuth === settled) this.#pendingAuth = undefined;
    });
  }
}
