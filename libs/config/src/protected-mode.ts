import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import { type LoadedConfig } from './load.js';
import { S } from './settings.js';

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.')) || /^::ffff:127\./i.test(host);

/**
 * Protected mode, as Redis has it: a node that listens beyond loopback with no users would let
 * anyone who reaches it read every key, TRUNCATE the store or SHUTDOWN the node. It refuses to
 * start unless told that this is meant (`insecure`).
 */
export function protectedModeRefusal({ config, sources }: Pick<LoadedConfig, 'config' | 'sources'>): ConfigError | undefined {
  if (config.users.length > 0 || config.insecure || isLoopback(config.host)) return undefined;
  return new ConfigError(
    'PROTECTED_MODE',
    S.host.key,
    sources[S.host.key] ?? 'default',
    `${config.host} is reachable beyond this machine and no users are configured: add a [[users]] entry to the config file (see README, Security) or pass --insecure`,
  );
}
