import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '#config';

/** The security tests' users: `app` writes `app:` and reads `pub:`, `ops` is an admin. */
export const APP_PASSWORD = 'app-Secret-7f3a';
export const OPS_PASSWORD = 'ops-Secret-91c2';
/** Cheap scrypt for tests; the tool's default is 2^15. */
const FAST = { logN: 10, r: 8, p: 1 };

/** Writes the config file of `app` (with `appTokenHash` as its bearer token, if given) and `ops` into `dir`; returns its path. */
export async function writeUsersConfig(dir: string, appTokenHash?: string): Promise<string> {
  const file = join(dir, 'users.toml');
  writeFileSync(
    file,
    [
      '[[users]]',
      'name = "app"',
      `password_hash = "${await hashPassword(APP_PASSWORD, FAST)}"`,
      ...(appTokenHash === undefined ? [] : [`token_hashes = ["${appTokenHash}"]`]),
      'permissions = [{ prefix = "app:", access = "write" }, { prefix = "pub:", access = "read" }]',
      '',
      '[[users]]',
      'name = "ops"',
      `password_hash = "${await hashPassword(OPS_PASSWORD, FAST)}"`,
      'permissions = [{ prefix = "", access = "admin" }]',
      '',
    ].join('\n'),
  );
  return file;
}
