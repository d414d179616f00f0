import { KvError } from '#commands';

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const SHAPE = 'body must be a JSON object like {"amount": 5}, or absent for 1';

/**
 * The amount of `POST /v1/kv/{key}/incr`. No body (no content type, nothing sent) means 1. A body
 * is taken as JSON and must be exactly an object whose only member is `amount` (`{}` means 1):
 * an array, `null`, an empty body with a content type or an unknown member is a client's mistake
 * that must not silently count as +1.
 */
export function parseIncrAmount(body: Buffer | undefined): bigint {
  if (body === undefined) return 1n;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KvError('BAD_REQUEST', SHAPE);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new KvError('BAD_REQUEST', SHAPE);
  const members = Object.keys(parsed);
  const unknown = members.find((name) => name !== 'amount');
  if (unknown !== undefined) throw new KvError('BAD_REQUEST', `unknown member '${unknown}': ${SHAPE}`);
  if (members.length === 0) return 1n;
  return parseAmount((parsed as { amount: unknown }).amount);
}

function parseAmount(amount: unknown): bigint {
  const text = typeof amount === 'number' && Number.isSafeInteger(amount) ? String(amount) : amount;
  if (typeof text !== 'string' || !/^[+-]?\d{1,19}$/.test(text)) {
    throw new KvError('BAD_REQUEST', 'amount must be a 64-bit integer (a JSON integer, or a decimal string)');
  }
  const value = BigInt(text);
  if (value < I64_MIN || value > I64_MAX) throw new KvError('BAD_REQUEST', 'amount must be a 64-bit integer');
  return value;
}
