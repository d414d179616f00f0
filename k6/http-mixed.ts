/**
 * Mixed HTTP load: 80% reads, 15% writes, 5% prefix scans over a uniform keyspace.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 k6/http-mixed.ts
 *
 * k6 cannot be installed on our build machines; `npm run typecheck` checks the scripts against
 * @types/k6, and `npm run bench:http` runs the same scenarios with our own generator.
 */
import { check } from 'k6';
import http from 'k6/http';
import { baseUrl, constantLoad, PREFIX, preload, randomKey, VALUE } from './common.ts';

export const options = constantLoad('mixed');

export function setup(): void {
  preload();
}

export default function (): void {
  const roll = Math.random();
  const url = `${baseUrl()}/v1/kv`;
  if (roll < 0.8) {
    const res = http.get(`${url}/${randomKey()}`, { tags: { op: 'get' } });
    check(res, { 'get 200': (r) => r.status === 200 });
  } else if (roll < 0.95) {
    const res = http.put(`${url}/${randomKey()}`, VALUE, { tags: { op: 'put' } });
    check(res, { 'put 204': (r) => r.status === 204 });
  } else {
    const res = http.get(`${url}?prefix=${PREFIX}1&limit=50`, { tags: { op: 'scan' } });
    check(res, { 'scan 200': (r) => r.status === 200 });
  }
}
