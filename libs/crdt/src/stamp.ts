import { type Hlc, ZERO_HLC, compareHlc } from './hlc.js';

export type NodeId = string;

/** Total order of writes: (hlc, node id). Stamps from fresh clocks are unique per write. */
export interface Stamp {
  readonly hlc: Hlc;
  readonly node: NodeId;
}

export const ZERO_STAMP: Stamp = Object.freeze({ hlc: ZERO_HLC, node: '' });

/** Node ids compare as JS strings (UTF-16 code units): a total order, the same on every replica. */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

export function compareStamps(a: Stamp, b: Stamp): number {
  if (a === b) return 0;
  return compareHlc(a.hlc, b.hlc) || compareNodeIds(a.node, b.node);
}

export function stampsEqual(a: Stamp, b: Stamp): boolean {
  return compareStamps(a, b) === 0;
}
