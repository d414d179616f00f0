import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of a certificate and its key. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** A test certificate authority, made with `openssl` in `dir`. */
export interface TestCa extends CertFiles {
  /**
   * A certificate this CA signs, for `name`; with `server`, valid for 127.0.0.1, ::1 and
   * localhost. Files `<name>.pem` and `<name>.key` in the CA's folder.
   */
  issue(name: string, options?: { server?: boolean }): CertFiles;
}

const openssl = (args: readonly string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** A new CA named `name` (files `<name>-ca.pem`, `<name>-ca.key` in `dir`); EC P-256 keys, one day. */
export function makeTestCa(dir: string, name: string): TestCa {
  const ca = { cert: join(dir, `${name}-ca.pem`), key: join(dir, `${name}-ca.key`) };
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name} test CA`, '-keyout', ca.key, '-out', ca.cert]);
  let serial = 0;
  return {
    ...ca,
    issue(certName, options = {}) {
      const files = { cert: join(dir, `${certName}.pem`), key: join(dir, `${certName}.key`) };
      const csr = join(dir, `${certName}.csr`);
      const ext = join(dir, `${certName}.ext`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${certName}`, '-keyout', files.key, '-out', csr]);
      writeFileSync(ext, options.server ? 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
      serial += 1;
      openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(Date.now() * 100 + serial), '-days', '1', '-extfile', ext, '-out', files.cert]);
      return files;
    },
  };
}

/** The PEM text of a file, for `ca`, `cert` and `key` options. */
export const pem = (path: string): string => readFileSync(path, 'utf8');
