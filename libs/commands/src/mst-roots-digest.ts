import { createHash } from 'node:crypto';

/** One hash over every shard's MST root, in shard order: equal on two nodes exactly when their stores are. */
export function mstRootsDigest(roots: Iterable<Uint8Array>): string {
  const hash = createHash('sha256');
  for (const root of roots) hash.update(root);
  return hash.digest('hex');
}
