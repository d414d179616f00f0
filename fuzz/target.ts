/**
 * A fuzz target: one fast-check property over one decoder or loader. The same property runs in
 * `npm test` with a few hundred inputs (fuzz.spec.ts) and in `npm run fuzz` with millions
 * (main.ts). A property fails by throwing; it must not depend on jest.
 */
import type fc from 'fast-check';

export interface FuzzTarget {
  /** The `--target` name. */
  readonly name: string;
  /** What a passing run proves, for the runner's report. */
  readonly claim: string;
  /** Inputs per target in `npm test`: enough to exercise every input kind in a few seconds. */
  readonly ciRuns: number;
  // A method, so that a property over any one input type fits the list of targets.
  property(): fc.IRawProperty<[unknown], false>;
}

/** Thrown by targets when a property does not hold (any other exception fails a run as well). */
export class PropertyViolation extends Error {
  override readonly name = 'PropertyViolation';
}

export function check(condition: boolean, why: () => string): asserts condition {
  if (!condition) throw new PropertyViolation(why());
}

/** The bytes as hex, for messages. */
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
