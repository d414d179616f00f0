/**
 * Makes the secrets a `[[users]]` entry holds (README, Security):
 *
 *   printf '%s' 's3cret' | npm run -s secret -- password   # prints a password_hash
 *   npm run -s secret -- token                             # prints a new token and its token_hash
 *
 * The password is read from stdin (never from the command line, which `ps` shows). Output goes
 * to stdout, one `key = "value"` line each, ready to paste into the config file.
 */
import { createInterface } from 'node:readline';
import { hashPassword, newToken } from '#config';

const USAGE = 'usage: secret password   (reads the password from stdin)\n       secret token      (prints a new bearer token and its hash)\n';

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (echoed; pipe it in to keep it off the screen): ');
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) return line;
  return '';
}

async function main(): Promise<number> {
  const [what, ...rest] = process.argv.slice(2);
  if (rest.length > 0 || (what !== 'password' && what !== 'token')) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (what === 'token') {
    const { token, hash } = newToken();
    process.stdout.write(`# give the client: Authorization: Bearer ${token}\ntoken_hashes = ["${hash}"]\n`);
    return 0;
  }
  const password = await readPassword();
  if (password === '') {
    process.stderr.write('secret: empty password refused\n');
    return 2;
  }
  process.stdout.write(`password_hash = "${await hashPassword(password)}"\n`);
  return 0;
}

process.exitCode = await main();
