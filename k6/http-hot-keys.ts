/**
 * Contention on a few keys: 90% of requests go to HOT_KEYS keys (default 10), half of them
 * writes (a PUT, or an increment of the key's counter), the rest reads of the whole keyspace.
 * Every write of a hot key queues behind the others in its shard's actor.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 k6/http-hot-keys.ts
 */
import { check } from 'k6';
import http from 'k6/http';
import { baseUrl, constantLoad, preload, randomKey, VALUE } from './common.ts';

const HOT_KEYS = Number(__ENV.HOT_KEYS ?? 10);

export const options = constantLoad('hot_keys');

export function setup(): void {
  preload();
}

export default function (): void {
  const url = `${baseUrl()}/v1/kv`;
  const roll = Math.random();
  const hot = `k6-hot:${Math.floor(Math.random() * HOT_KEYS)}`;
  if (roll < 0.45) {
    const res = http.get(`${url}/${hot}`, { tags: { op: 'hot_get' } });
    check(res, { 'hot get 200 or 404': (r) => r.status === 200 || r.status === 404 });
  } else if (roll < 0.7) {
    const res = http.put(`${url}/${hot}`, VALUE, { tags: { op: 'hot_put' } });
    check(res, { 'hot put 204': (r) => r.status === 204 });
  } else if (roll < 0.9) {
    const res = http.post(`${url}/${hot}-count/incr`, '{"amount":1}', { tags: { op: 'hot_incr' } });
    check(res, { 'hot incr 200': (r) => r.status === 200 });
  } else {
    const res = http.get(`${url}/${randomKey()}`, { tags: { op: 'get' } });
    check(res, { 'get 200': (r) => r.status === 200 });
  }
}
