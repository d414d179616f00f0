/**
 * memcached's two ways of signing in, both on the command layer's AUTH (so the users, the password
 * check and the limit on failed attempts are the other protocols'):
 *
 * - Text, as `memcached -Y` does: before sign-in the first `set <any key> <flags> <exptime>
 *   <bytes>` carries `<user> <password>` as its data block; `STORED` answers a sign-in,
 *   `CLIENT_ERROR authentication failure` a refusal, and every other command gets
 *   `CLIENT_ERROR unauthenticated`.
 * - Binary, as `memcached -S` does: SASL (0x20 lists the mechanisms, 0x21 starts one, 0x22 takes
 *   a step) with the PLAIN mechanism (RFC 4616: `authzid NUL user NUL password`); status 0x20
 *   answers a refusal, and any other opcode but VERSION before sign-in (then the connection closes).
 */

/** The SASL mechanisms offered, as the 0x20 reply lists them. */
export const SASL_MECHANISMS = 'PLAIN';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

const SPACE = 0x20;

/**
 * The `<user> <password>` of a text sign-in's data block: the first word, then what follows its
 * spaces (so a password may hold spaces, not at its ends). Undefined without both.
 */
export function textCredentials(block: Buffer): Credentials | undefined {
  let start = 0;
  let end = block.length;
  while (start < end && block[start] === SPACE) start++;
  while (end > start && block[end - 1] === SPACE) end--;
  const space = block.indexOf(SPACE, start);
  if (space < 0 || space >= end) return undefined;
  let password = space;
  while (block[password] === SPACE) password++;
  return { user: block.toString('utf8', start, space), password: block.toString('utf8', password, end) };
}

/** The credentials of a SASL PLAIN message; undefined when it is malformed or asks to act as another user. */
export function plainCredentials(message: Buffer): Credentials | undefined {
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  if (second < 0 || message.indexOf(0, second + 1) >= 0) return undefined;
  const authzid = message.toString('utf8', 0, first);
  const user = message.toString('utf8', first + 1, second);
  const password = message.toString('utf8', second + 1);
  if (user === '' || password === '' || (authzid !== '' && authzid !== user)) return undefined;
  return { user, password };
}

/**
 * One connection's sign-in, as its dispatch sees it: `out` until a sign-in is sent, `pending`
 * while one is being checked (what follows it is checked by the guard once it settles), `in`
 * once one succeeded. A refused sign-in puts the connection back `out`, so the client may retry,
 * as with memcached.
 */
export class SignIn {
  #pending = 0;
  #in = false;

  get state(): 'out' | 'pending' | 'in' {
    if (this.#in) return 'in';
    return this.#pending > 0 ? 'pending' : 'out';
  }

  begin(): void {
    this.#pending++;
  }

  /** A sign-in's answer is being sent: `ok` if it signed the connection in. */
  settled(ok: boolean): void {
    this.#pending--;
    if (ok) this.#in = true;
  }
}
