/**
 * Damage to valid encodings, the inputs that reach a decoder's deep paths: random bytes mostly
 * fail on the first byte. Each mutation keeps the length bounded by the original's plus a little.
 */
import fc from 'fast-check';

type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly xor: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'append'; readonly bytes: Uint8Array };

const at = fc.nat();
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('set' as const), at, value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff) }),
  fc.record({ op: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ op: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('truncate' as const), at }),
  fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
);

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  const i = 'at' in m ? m.at % (bytes.length + 1) : bytes.length;
  switch (m.op) {
    case 'flip':
    case 'set': {
      if (i === bytes.length) return bytes;
      const out = Uint8Array.from(bytes);
      out[i] = m.op === 'flip' ? out[i]! ^ m.xor : m.value;
      return out;
    }
    case 'insert':
      return Uint8Array.from([...bytes.subarray(0, i), ...m.bytes, ...bytes.subarray(i)]);
    case 'delete':
      return Uint8Array.from([...bytes.subarray(0, i), ...bytes.subarray(i + m.count)]);
    case 'truncate':
      return bytes.slice(0, i);
    case 'append':
      return Uint8Array.from([...bytes, ...m.bytes]);
  }
}

/** Encodings from `valid`, each damaged by one to three mutations. */
export const mutatedArb = (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc.tuple(valid, fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([bytes, mutations]) => mutations.reduce(apply, bytes));
