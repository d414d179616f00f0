/**
 * Node configuration: typed, validated once at boot, with errors that name the key to fix.
 * Pure: the caller passes argv, env, cwd and a file reader; nothing here exits the process.
 *
 *   if (helpRequested(argv)) { stdout.write(usage()); exit(0) }
 *   try { const { config, warnings } = loadConfig({ argv, env, cwd, readFile }) }
 *   catch (e) { if (isConfigError(e)) { stderr.write(e.message + '\n'); exit(2) } throw e }
 */
export { type ConfigErrorCode, ConfigError, isConfigError } from './errors.js';
export { type FlagValue, helpRequested, type ParsedFlags, parseFlags } from './flags.js';
export { DEFAULT_CLUSTER, type LoadConfigInput, loadConfig, type LoadedConfig } from './load.js';
export { CONFIG_REFERENCE, type ConfigReferenceRow, configReferenceMarkdown, usage } from './reference.js';
export { protectedModeRefusal } from './protected-mode.js';
export { DEFAULT_SCRYPT, hashPassword, newToken, parsePasswordHash, type PasswordHash, tokenDigest, verifyPassword } from './secrets.js';
export { DEFAULT_MAX_VALUE_BYTES } from './settings.js';
export type { Access, EngineKind, ListenerTls, LogLevel, NatsConfig, NodeConfig, PeerAddress, Permission, UserConfig } from './types.js';
