import { CrdtError } from '#crdt';
import { StoreError } from '#store';
import { KvError } from './errors.js';

/** Maps what the store and the CRDTs throw to the domain's stable error codes. */
export function toKvError(err: unknown, key?: string): unknown {
  if (err instanceof KvError) return err;
  if (err instanceof CrdtError) {
    switch (err.code) {
      case 'NOT_A_NUMBER':
      case 'WRONG_TYPE':
        return new KvError('NOT_A_NUMBER', `Value for key '${key}' is not a valid number`, { cause: err });
      case 'OVERFLOW':
        return new KvError('OVERFLOW', `Value for key '${key}' would overflow a 64-bit integer`, { cause: err });
      default:
        return new KvError('STORAGE', `stored entry for key '${key}' is unreadable`, { cause: err });
    }
  }
  if (err instanceof StoreError) {
    return err.code === 'CLOSED'
      ? new KvError('SHUTTING_DOWN', 'server is shutting down', { cause: err })
      : new KvError('STORAGE', err.message, { cause: err });
  }
  return err;
}

/** Runs a store write and rethrows its failure as a {@link KvError}. */
export async function guarded<T>(key: string | undefined, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    throw toKvError(err, key);
  }
}
