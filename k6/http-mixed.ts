/**
 * Mixed HTTP load on one node (or a load balancer in front of a cluster): 80% reads of a hot
 * key set, 15% writes, 5% prefix scans. Run with k6 (which runs TypeScript directly):
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 k6/http-mixed.ts
 *
 * k6 cannot be installed on our build machines; `npm run typecheck` checks this file against
 * @types/k6, and bench/ has a load generator that runs here.
 */
import { check } from 'k6';
import http from 'k6/http';
import { type Options } from 'k6/options';

const BASE_URL = __ENV.BASE_URL ?? 'http://127.0.0.1:8080';
const KEYS = Number(__ENV.KEYS ?? 1000);
const VALUE = 'v'.repeat(Number(__ENV.VALUE_BYTES ?? 100));

export const options: Options = {
  scenarios: {
    mixed: { executor: 'constant-vus', vus: Number(__ENV.VUS ?? 32), duration: __ENV.DURATION ?? '30s' },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
  },
};

export function setup(): void {
  for (let i = 0; i < KEYS; i++) http.put(`${BASE_URL}/v1/kv/k6:${i}`, VALUE);
}

export default function (): void {
  const roll = Math.random();
  const key = `k6:${Math.floor(Math.random() * KEYS)}`;
  if (roll < 0.8) {
    const res = http.get(`${BASE_URL}/v1/kv/${key}`, { tags: { op: 'get' } });
    check(res, { 'get 200': (r) => r.status === 200 });
  } else if (roll < 0.95) {
    const res = http.put(`${BASE_URL}/v1/kv/${key}`, VALUE, { tags: { op: 'put' } });
    check(res, { 'put 204': (r) => r.status === 204 });
  } else {
    const res = http.get(`${BASE_URL}/v1/kv?prefix=k6:1&limit=50`, { tags: { op: 'scan' } });
    check(res, { 'scan 200': (r) => r.status === 200 });
  }
}
