/**
 * What each command needs of its caller: the one table every protocol's authorisation reads.
 *
 * - `open`: answered before signing in (PING, VERSION, AUTH).
 * - `signedIn`: any user; these show figures about the node, never a key or a value.
 * - `keys`: the named keys, each under a prefix the user holds with that access.
 * - `prefix`: a listing, digest or feed of every key under a prefix: the user must hold the whole
 *   prefix (a grant whose prefix starts it). A listing is refused rather than filtered, so that a
 *   SCAN page, a HASH or a WATCH means the same thing for every caller.
 * - `admin`: acts on the whole node (TRUNCATE, SHUTDOWN, SYNC, REPLICATE, CLIENT, anti-entropy
 *   messages): an `admin` grant on the empty prefix, i.e. on every key.
 */
import { type Access } from '#config';
import { type CommandName, type CommandOf } from '../command.js';

export type Need =
  | { readonly kind: 'open' }
  | { readonly kind: 'signedIn' }
  | { readonly kind: 'keys'; readonly access: Exclude<Access, 'admin'>; readonly keys: readonly string[] }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'admin' };

const OPEN: Need = { kind: 'open' };
const SIGNED_IN: Need = { kind: 'signedIn' };
const ADMIN: Need = { kind: 'admin' };
const read = ({ key }: { key: string }): Need => ({ kind: 'keys', access: 'read', keys: [key] });
const write = ({ key }: { key: string }): Need => ({ kind: 'keys', access: 'write', keys: [key] });

/** A new command fails to compile until it says here what it needs. */
export const NEEDS: { readonly [N in CommandName]: (command: CommandOf<N>) => Need } = {
  AUTH: () => OPEN,
  PING: () => OPEN,
  VERSION: () => OPEN,
  ECHO: () => SIGNED_IN,
  STATS: () => SIGNED_IN,
  INFO: () => SIGNED_IN,
  DBSIZE: () => SIGNED_IN,
  MEMORY: () => SIGNED_IN,
  GET: read,
  MGET: ({ keys }) => ({ kind: 'keys', access: 'read', keys }),
  EXISTS: ({ keys }) => ({ kind: 'keys', access: 'read', keys }),
  SET: write,
  DEL: write,
  INCR: write,
  APPEND: write,
  PREPEND: write,
  STORE: write,
  REMOVE: write,
  TOUCH: write,
  ADJUST: write,
  LOOKUP: ({ keys }) => ({ kind: 'keys', access: 'read', keys }),
  MSET: ({ pairs }) => ({ kind: 'keys', access: 'write', keys: pairs.map(([key]) => key) }),
  SCAN: ({ prefix }) => ({ kind: 'prefix', prefix }),
  WATCH: ({ prefix }) => ({ kind: 'prefix', prefix }),
  HASH: ({ pattern }) => ({ kind: 'prefix', prefix: pattern === undefined || pattern === '*' ? '' : pattern }),
  TRUNCATE: () => ADMIN,
  SHUTDOWN: () => ADMIN,
  CLIENT_LIST: () => ADMIN,
  SYNC: () => ADMIN,
  REPLICATE: () => ADMIN,
  AE: () => ADMIN,
};
