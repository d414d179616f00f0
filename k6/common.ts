/**
 * What the k6 scripts share: where the API is, the keyspace they write, and the preload. Every
 * setting comes from `-e NAME=value`:
 *
 *   BASE_URL     one node, or a load balancer in front of several (default http://127.0.0.1:8080)
 *   TARGETS      comma-separated base URLs to spread requests over instead (the compose cluster)
 *   KEYS         keyspace size (default 1000); VALUE_BYTES value size (default 100)
 *   VUS          virtual users (default 32); DURATION (default 30s)
 */
import http from 'k6/http';
import { type Options } from 'k6/options';

const targets = (__ENV.TARGETS ?? __ENV.BASE_URL ?? 'http://127.0.0.1:8080').split(',').map((url) => url.trim());

export const KEYS = Number(__ENV.KEYS ?? 1000);
export const VALUE = 'v'.repeat(Number(__ENV.VALUE_BYTES ?? 100));
/** Every key the scripts write starts with it, so that a scan of it is the whole keyspace. */
export const PREFIX = 'k6:';

/** A base URL: requests of one iteration go to one target, iterations spread over all. */
export function baseUrl(): string {
  return targets[Math.floor(Math.random() * targets.length)]!;
}

export const keyOf = (index: number): string => `${PREFIX}${index}`;

export function randomKey(): string {
  return keyOf(Math.floor(Math.random() * KEYS));
}

/** One scenario of constant VUs, failing the run above 1% failed requests. */
export function constantLoad(name: string): Options {
  return {
    scenarios: { [name]: { executor: 'constant-vus', vus: Number(__ENV.VUS ?? 32), duration: __ENV.DURATION ?? '30s' } },
    thresholds: { http_req_failed: ['rate<0.01'] },
  };
}

/** Writes the keyspace once, before the load. */
export function preload(): void {
  for (let i = 0; i < KEYS; i++) http.put(`${targets[i % targets.length]}/v1/kv/${keyOf(i)}`, VALUE);
}
