/**
 * Scans: each iteration pages through the keys under a random prefix (PAGE keys a page,
 * default 100) by following the cursor to the end, checking that pages come in key order.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 k6/http-scan.ts
 */
import { check } from 'k6';
import http from 'k6/http';
import { baseUrl, constantLoad, PREFIX, preload } from './common.ts';

const PAGE = Number(__ENV.PAGE ?? 100);

export const options = constantLoad('scan');

export function setup(): void {
  preload();
}

interface ScanPage {
  readonly keys: string[];
  readonly cursor: string | null;
}

export default function (): void {
  const base = baseUrl();
  const prefix = `${PREFIX}${Math.floor(Math.random() * 10)}`;
  let cursor: string | null = null;
  let last = '';
  do {
    const query: string = cursor === null ? '' : `&cursor=${cursor}`;
    const res = http.get(`${base}/v1/kv?prefix=${prefix}&limit=${PAGE}${query}`, { tags: { op: 'scan_page' } });
    if (!check(res, { 'scan 200': (r) => r.status === 200 })) return;
    const page = res.json() as unknown as ScanPage;
    check(page, { 'keys in order': (p) => p.keys.every((key) => key > last && key.startsWith(prefix)) });
    last = page.keys[page.keys.length - 1] ?? last;
    cursor = page.cursor;
  } while (cursor !== null);
}
