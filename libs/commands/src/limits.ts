import { KvError } from './errors.js';
import { type Limits } from './handlers.js';

export function checkValueSize(limits: Limits, value: Uint8Array): void {
  if (value.length > limits.maxValueBytes) {
    throw new KvError('TOO_LARGE', `value too large: ${value.length} bytes (limit ${limits.maxValueBytes})`);
  }
}

/** Key rule shared by every protocol: non-empty, no ASCII whitespace that would split a text command. */
export function checkKey(key: string): void {
  if (key.length === 0) throw new KvError('BAD_REQUEST', 'key must not be empty');
  if (/[\s]/.test(key)) throw new KvError('BAD_REQUEST', 'key must not contain whitespace');
}
