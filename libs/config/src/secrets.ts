/**
 * The secrets a config file holds, in the formats the project's own tool writes
 * (`npm run -s secret`): a password as a scrypt hash, a bearer token as its SHA-256.
 *
 * Passwords are people's choices, so they get a slow, memory-hard hash: scrypt in the PHC string
 * format, `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (unpadded base64), which carries its
 * own cost parameters so that a later, costlier default leaves old hashes valid. Tokens are 32
 * random bytes the tool draws: nothing to guess, so one SHA-256 suffices, and it lets a request's
 * token be looked up rather than tried against every scrypt hash in turn.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface PasswordHash {
  /** log2 of scrypt's cost N. */
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** 2^15 x 8 x 128 B = 32 MiB and ~100 ms per check: the tool's default cost. */
export const DEFAULT_SCRYPT = { logN: 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const TOKEN_BYTES = 32;

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{22,})$/;
const TOKEN_HASH = /^sha256:([0-9a-f]{64})$/;

/** A password hash's text, or why it is not one (the reason completes "<key>: ..."). */
export function parsePasswordHash(text: string): PasswordHash | string {
  const m = PHC.exec(text);
  if (m === null) return 'must be a scrypt hash made by `npm run -s secret -- password` ($scrypt$ln=..,r=..,p=..$salt$hash)';
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 32 || p < 1 || p > 16) return 'has scrypt parameters out of range (ln 10-20, r 1-32, p 1-16)';
  return { logN, r, p, salt: Buffer.from(m[4]!, 'base64'), hash: Buffer.from(m[5]!, 'base64') };
}

export function formatPasswordHash(h: PasswordHash): string {
  const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${h.logN},r=${h.r},p=${h.p}$${b64(h.salt)}$${b64(h.hash)}`;
}

function derive(password: string, salt: Buffer, params: { logN: number; r: number; p: number }, length: number): Promise<Buffer> {
  const N = 2 ** params.logN;
  return new Promise((resolve, reject) =>
    // scrypt needs 128·N·r bytes; Node refuses above maxmem (32 MiB by default), so say how much.
    scrypt(password, salt, length, { N, r: params.r, p: params.p, maxmem: 256 * N * params.r }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A new hash of `password` with a fresh salt. */
export async function hashPassword(password: string, params: { logN: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return formatPasswordHash({ ...params, salt, hash: await derive(password, salt, params, HASH_BYTES) });
}

/** Whether `password` matches; compares in constant time. Runs on libuv's thread pool. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored, stored.hash.length);
  return timingSafeEqual(derived, stored.hash);
}

/** A token hash's text (`sha256:<64 hex>`) as its digest, or why it is not one. */
export function parseTokenHash(text: string): Buffer | string {
  const m = TOKEN_HASH.exec(text);
  return m === null ? 'must be sha256:<64 lowercase hex> as made by `npm run -s secret -- token`' : Buffer.from(m[1]!, 'hex');
}

export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A new random bearer token and the hash the config file keeps of it. */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  return { token, hash: `sha256:${tokenDigest(token).toString('hex')}` };
}
