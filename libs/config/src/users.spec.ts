import { ConfigError, hashPassword, loadConfig, type LoadedConfig, protectedModeRefusal, verifyPassword } from '#config';
import { parsePasswordHash } from './secrets.js';

const HASH = '$scrypt$ln=10,r=8,p=1$BwcHBwcHBwcHBwcHBwcHBw$CvFuPdY8kHQ0rlIyOIoe2hNua3u+Qdw0KUpa0400/y8';
const TOKEN = 'sha256:1a7674eb4ee78df7e1ac439a93c3fa8e3c945784d4dec9fd8e3011738b2f1d62';

function load(file: string, argv: string[] = []): LoadedConfig {
  return loadConfig({ argv: ['--config', 'kv.toml', ...argv], env: {}, cwd: '/srv', readFile: () => file });
}

function refusal(file: string): string {
  try {
    load(file);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const user = (fields: string): string => `[[users]]\nname = "app"\n${fields}\n`;
const READ_ALL = 'permissions = [{ prefix = "", access = "read" }]';

describe('[[users]]', () => {
  it('loads users with their hashes and permissions', () => {
    const { config } = load(`${user(`password_hash = "${HASH}"\ntoken_hashes = ["${TOKEN}"]\n${READ_ALL}`)}[[users]]\nname = "ops"\npassword_hash = "${HASH}"\npermissions = [{ prefix = "", access = "admin" }]`);
    expect(config.users.map((u) => u.name)).toEqual(['app', 'ops']);
    expect(config.users[0]?.password?.logN).toBe(10);
    expect(config.users[0]?.tokens[0]?.toString('hex')).toBe(TOKEN.slice(7));
    expect(config.users[1]?.permissions).toEqual([{ prefix: '', access: 'admin' }]);
  });

  it.each([
    [user(READ_ALL), 'users[0] (app): needs a password_hash or token_hashes to sign in with'],
    [user(`password_hash = "sha256:abc"\n${READ_ALL}`), 'users[0] (app).password_hash: must be a scrypt hash made by'],
    [user(`password_hash = "${HASH.replace('ln=10', 'ln=30')}"\n${READ_ALL}`), 'users[0] (app).password_hash: has scrypt parameters out of range'],
    [user(`token_hashes = ["abc"]\n${READ_ALL}`), 'users[0] (app).token_hashes[0]: must be sha256:<64 lowercase hex>'],
    [user(`password_hash = "${HASH}"\npermissions = []`), 'users[0] (app).permissions: must be a non-empty array'],
    [user(`password_hash = "${HASH}"\npermissions = [{ prefix = "a", access = "rw" }]`), 'users[0] (app).permissions[0].access: must be read, write or admin, got "rw"'],
    [user(`password_hash = "${HASH}"\npermissions = [{ prefix = "a b", access = "read" }]`), 'users[0] (app).permissions[0].prefix: must be a string without whitespace'],
    [user(`password_hash = "${HASH}"\npermissions = [{ prefix = "a", access = "read", ttl = 1 }]`), 'users[0] (app).permissions[0].ttl: is not a permission field'],
    [user(`password = "plain"\n${READ_ALL}`), 'users[0].password: is not a user field'],
    ['[[users]]\nname = "a b"', 'users[0].name: must be 1-64 of A-Z a-z 0-9 _ -, got "a b"'],
    [`${user(`password_hash = "${HASH}"\n${READ_ALL}`)}${user(`password_hash = "${HASH}"\n${READ_ALL}`)}`, 'users[1].name: "app" is defined twice'],
    ['users = "x"', 'users: must be an array of tables'],
  ])('refuses bad entry %#, naming the field', (file, message) => {
    const text = refusal(file);
    expect(text).toContain(`invalid config: ${message}`);
    expect(text).toContain('(from users in /srv/kv.toml)');
  });

  it('never echoes a password hash it refuses', () => {
    expect(refusal(user(`password_hash = "$scrypt$ln=10,r=8,p=1$c2VjcmV0$"\n${READ_ALL}`))).not.toContain('c2VjcmV0');
  });
});

describe('[tls]', () => {
  it('needs the key with the certificate, and a certificate with the CA', () => {
    expect(refusal('[tls]\ncert_file = "a.pem"')).toContain('tls.key_file: is required with tls.cert_file');
    expect(refusal('[tls]\nca_file = "ca.pem"')).toContain('tls.cert_file: is required with tls.ca_file');
    expect(load('[tls]\ncert_file = "a.pem"\nkey_file = "a.key"').config.tls).toEqual({ certFile: '/srv/a.pem', keyFile: '/srv/a.key' });
  });
});

describe('protected mode', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', 'localhost'])('lets %s start without users', (host) => {
    expect(protectedModeRefusal(load(`host = "${host}"`))).toBeUndefined();
  });

  it('refuses a non-loopback host without users, in one line that says what to do', () => {
    const refused = protectedModeRefusal(load('host = "0.0.0.0"'));
    expect(refused?.code).toBe('PROTECTED_MODE');
    expect(refused?.message).toBe(
      'invalid config: host: 0.0.0.0 is reachable beyond this machine and no users are configured: add a [[users]] entry to the config file (see README, Security) or pass --insecure (from host in /srv/kv.toml)',
    );
  });

  it('lets it start with users, or with --insecure', () => {
    expect(protectedModeRefusal(load(`host = "::"\n${user(`password_hash = "${HASH}"\n${READ_ALL}`)}`))).toBeUndefined();
    expect(protectedModeRefusal(load('host = "::"', ['--insecure']))).toBeUndefined();
  });
});

describe('password hashes', () => {
  it('verify the password they were made from, and only it', async () => {
    const text = await hashPassword('correct horse', { logN: 10, r: 8, p: 1 });
    const parsed = parsePasswordHash(text);
    if (typeof parsed === 'string') throw new Error(parsed);
    expect(text).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword('correct horse', parsed)).toBe(true);
    expect(await verifyPassword('correct horsf', parsed)).toBe(false);
    // A fresh salt each time: the same password never gives the same hash.
    expect(await hashPassword('correct horse', { logN: 10, r: 8, p: 1 })).not.toBe(text);
  });
});
