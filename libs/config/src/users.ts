import { ConfigError } from './errors.js';
import { parsePasswordHash, parseTokenHash } from './secrets.js';
import { type Access, type Permission, type UserConfig } from './types.js';
import { describeValue, isName, isTable } from './values.js';

const ACCESS: readonly Access[] = ['read', 'write', 'admin'];
const USER_KEYS = new Set(['name', 'password_hash', 'token_hashes', 'permissions']);
const PERMISSION_KEYS = new Set(['prefix', 'access']);

/**
 * The `[[users]]` array of a config file. Every problem names the exact entry and field
 * (`users[1].permissions[0].access`); secrets are never echoed back.
 */
export function parseUsers(input: unknown, file: string): UserConfig[] {
  const origin = `users in ${file}`;
  const fail = (key: string, reason: string): never => {
    throw new ConfigError('INVALID_VALUE', key, origin, reason);
  };
  if (!Array.isArray(input)) return fail('users', 'must be an array of tables ([[users]])');
  const users = input.map((entry: unknown, i): UserConfig => {
    const at = `users[${i}]`;
    if (!isTable(entry)) return fail(at, 'must be a table ([[users]])');
    const unknown = Object.keys(entry).find((k) => !USER_KEYS.has(k));
    if (unknown !== undefined) fail(`${at}.${unknown}`, `is not a user field (name, password_hash, token_hashes, permissions)`);
    const name = entry['name'];
    if (typeof name !== 'string' || !isName(name)) fail(`${at}.name`, `must be 1-64 of A-Z a-z 0-9 _ -, got ${describeValue(name)}`);
    const user = `users[${i}] (${name as string})`;

    let password: UserConfig['password'];
    if (entry['password_hash'] !== undefined) {
      const text = entry['password_hash'];
      const parsed = typeof text === 'string' ? parsePasswordHash(text) : 'must be a string';
      password = typeof parsed === 'string' ? fail(`${user}.password_hash`, parsed) : parsed;
    }
    const tokenInput = entry['token_hashes'] ?? [];
    if (!Array.isArray(tokenInput)) fail(`${user}.token_hashes`, 'must be an array of strings');
    const tokens = (tokenInput as unknown[]).map((t, j) => {
      const parsed = typeof t === 'string' ? parseTokenHash(t) : 'must be a string';
      return typeof parsed === 'string' ? fail(`${user}.token_hashes[${j}]`, parsed) : parsed;
    });
    if (password === undefined && tokens.length === 0) fail(user, 'needs a password_hash or token_hashes to sign in with');

    const permissionInput = entry['permissions'];
    if (!Array.isArray(permissionInput) || permissionInput.length === 0) {
      fail(`${user}.permissions`, 'must be a non-empty array of { prefix = "...", access = "read" | "write" | "admin" }');
    }
    const permissions = (permissionInput as unknown[]).map((p, j): Permission => {
      const pat = `${user}.permissions[${j}]`;
      if (!isTable(p)) return fail(pat, 'must be a table { prefix = "...", access = "..." }');
      const extra = Object.keys(p).find((k) => !PERMISSION_KEYS.has(k));
      if (extra !== undefined) fail(`${pat}.${extra}`, 'is not a permission field (prefix, access)');
      const prefix = p['prefix'];
      if (typeof prefix !== 'string' || /[\s]/.test(prefix)) fail(`${pat}.prefix`, `must be a string without whitespace ("" is every key), got ${describeValue(prefix)}`);
      const access = p['access'];
      if (typeof access !== 'string' || !(ACCESS as readonly string[]).includes(access)) fail(`${pat}.access`, `must be read, write or admin, got ${describeValue(access)}`);
      return { prefix: prefix as string, access: access as Access };
    });
    return { name: name as string, ...(password !== undefined && { password }), tokens, permissions };
  });
  const seen = new Set<string>();
  users.forEach((u, i) => {
    if (seen.has(u.name)) fail(`users[${i}].name`, `${JSON.stringify(u.name)} is defined twice`);
    seen.add(u.name);
  });
  return users;
}
