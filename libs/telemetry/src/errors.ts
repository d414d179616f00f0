/** The telemetry library's one error type; callers branch on the stable `code`. */
export type TelemetryErrorCode =
  /** A metric definition is invalid (name, labels, buckets) or registered twice: a programming error, found at start-up. */
  | 'BAD_METRIC'
  /** A child was asked for without a value for every declared label. */
  | 'BAD_LABELS'
  /** A counter was decremented. */
  | 'BAD_VALUE';

export class TelemetryError extends Error {
  override readonly name = 'TelemetryError';
  constructor(
    readonly code: TelemetryErrorCode,
    message: string,
  ) {
    super(message);
  }
}
