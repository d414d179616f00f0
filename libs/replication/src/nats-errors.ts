import { JetStreamApiError } from '@nats-io/jetstream';
import { ReplicationError, describeError } from './errors.js';

/** JetStream API error codes (`err_code`) this library branches on. */
export const API_CODES = {
  consumerNotFound: 10014,
  streamNameInUse: 10058,
  streamNotFound: 10059,
} as const;

export function isApiError(err: unknown, code?: number): err is JetStreamApiError {
  return err instanceof JetStreamApiError && (code === undefined || err.code === code);
}

/**
 * Maps a NATS client failure to our error type: a JetStream API refusal of a definition
 * (4xx) is STREAM_CONFLICT, everything else (timeouts, no responders, a closed connection,
 * a 503 from a JetStream without quorum) is NATS_UNAVAILABLE, i.e. worth retrying.
 */
export function natsFailure(context: string, err: unknown): ReplicationError {
  if (err instanceof ReplicationError) return err;
  const refused = isApiError(err) && err.status >= 400 && err.status < 500;
  return new ReplicationError(refused ? 'STREAM_CONFLICT' : 'NATS_UNAVAILABLE', `${context}: ${describeError(err)}`, { cause: err });
}
