/**
 * How long a client has to complete a request it began (a MerkleKV line, an HTTP request's
 * headers and body), however its bytes trickle in: a 1 MiB request needs about 140 kbit/s.
 * Without it a client sending one byte now and then would hold its connection for ever.
 */
export const REQUEST_TIMEOUT_MS = 60_000;
