/*
 * Observed-remove set, add-wins.
 *
 * Every add of an element creates a unique tag: the stamp of that add (fresh from the adding
 * node's HLC, so no two adds anywhere share one). A remove deletes the tags of that element that
 * the remover has observed, and remembers them in `removed`. The state is
 *   elements: element -> live tags (ascending),   removed: tags ever removed (ascending),
 * normalised so that no live tag is also removed. The join is
 *   removed = removed_l ∪ removed_r,   tags(x) = (tags_l(x) ∪ tags_r(x)) \ removed,
 * dropping elements left with no tag. (It is the join of the grow-only pair (adds, removes)
 * followed by normalisation, and normalisation commutes with union, so it is a lattice join.)
 * Add-wins: an add concurrent with a remove has a tag the remover never saw, so it survives.
 *
 * Cost: `removed` grows with every removed tag for as long as the set lives (it is dropped when
 * the whole entry is replaced by a register, a tombstone or a newer set). Collecting removed tags
 * needs causal stability (every replica has seen them) and is left to a later issue.
 *
 * Elements are bytes; the maps key them by their latin1 ("binary") string, one UTF-16 code unit
 * per byte, so JS string order is byte order and keys are cheap to hash.
 */
import { type SetEntry } from './entry.js';
import { type Stamp, compareStamps } from './stamp.js';

const NO_TAGS: readonly Stamp[] = [];

/** The map key of an element: its bytes as a latin1 string. */
export function elementKey(element: Uint8Array): string {
  return Buffer.from(element.buffer, element.byteOffset, element.byteLength).toString('latin1');
}

/** The element bytes of a map key. */
export function elementFromKey(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

/** Live elements in byte order. */
export function setMembers(e: SetEntry): Uint8Array[] {
  const keys = [...e.elements.keys()].sort();
  return keys.map(elementFromKey);
}

export function setHas(e: SetEntry, element: Uint8Array): boolean {
  return e.elements.has(elementKey(element));
}

export function setSize(e: SetEntry): number {
  return e.elements.size;
}

/** Union of two ascending stamp arrays; returns an input itself when it already holds the union. */
export function unionTags(a: readonly Stamp[], b: readonly Stamp[]): readonly Stamp[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Stamp[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareStamps(a[i]!, b[j]!);
    if (c < 0) out.push(a[i++]!);
    else if (c > 0) out.push(b[j++]!);
    else {
      out.push(a[i++]!);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  if (out.length === a.length) return a;
  if (out.length === b.length) return b;
  return out;
}

/** Index of `t` in ascending `tags`, or -1. */
export function findTag(tags: readonly Stamp[], t: Stamp): number {
  let lo = 0;
  let hi = tags.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareStamps(tags[mid]!, t);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** `tags` without those in `removed`; returns `tags` itself when none is removed. */
function liveTags(tags: readonly Stamp[], removed: readonly Stamp[]): readonly Stamp[] {
  if (removed.length === 0) return tags;
  let out: Stamp[] | undefined;
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i]!;
    if (findTag(removed, t) >= 0) {
      out ??= tags.slice(0, i);
    } else if (out) out.push(t);
  }
  return out ?? tags;
}

function sortedElements(entries: Array<[string, readonly Stamp[]]>): Map<string, readonly Stamp[]> {
  entries.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return new Map(entries);
}

/** Join of two sets of the same epoch. Returns `l` (or `r`) itself when it already is the join. */
export function mergeSets(l: SetEntry, r: SetEntry): SetEntry {
  const removed = unionTags(l.removed, r.removed);
  let isL = removed.length === l.removed.length;
  let isR = removed.length === r.removed.length;
  const out: Array<[string, readonly Stamp[]]> = [];
  for (const [k, lt] of l.elements) {
    const rt = r.elements.get(k);
    const tags = liveTags(rt ? unionTags(lt, rt) : lt, removed);
    if (tags.length > 0) out.push([k, tags]);
    if (tags.length !== lt.length) isL = false;
    if (tags.length !== (rt?.length ?? 0)) isR = false;
  }
  for (const [k, rt] of r.elements) {
    if (l.elements.has(k)) continue;
    const tags = liveTags(rt, removed);
    if (tags.length > 0) {
      out.push([k, tags]);
      isL = false;
    }
    if (tags.length !== rt.length) isR = false;
  }
  if (isL) return l;
  if (isR) return r;
  return { type: 'set', stamp: l.stamp, elements: sortedElements(out), removed };
}

/** A set of the given epoch with no elements. */
export function newSet(epoch: Stamp): SetEntry {
  return { type: 'set', stamp: epoch, elements: new Map(), removed: NO_TAGS };
}

/** Adds `element` with the fresh tag `tag`: the new set and the change (just that tag). */
export function addTag(s: SetEntry, element: Uint8Array, tag: Stamp): { entry: SetEntry; change: SetEntry } {
  const key = elementKey(element);
  const old = s.elements.get(key);
  const tags = old ? unionTags(old, [tag]) : [tag];
  let elements: Map<string, readonly Stamp[]>;
  if (old) {
    elements = new Map(s.elements);
    elements.set(key, tags);
  } else {
    elements = sortedElements([...s.elements, [key, tags]]);
  }
  const entry: SetEntry = { type: 'set', stamp: s.stamp, elements, removed: s.removed };
  const change: SetEntry = { type: 'set', stamp: s.stamp, elements: new Map([[key, [tag]]]), removed: NO_TAGS };
  return { entry, change };
}

/** Removes the observed tags of `element`; undefined when the element is absent (no-op). */
export function removeElement(s: SetEntry, element: Uint8Array): { entry: SetEntry; change: SetEntry } | undefined {
  const key = elementKey(element);
  const tags = s.elements.get(key);
  if (!tags) return undefined;
  const elements = new Map(s.elements);
  elements.delete(key);
  const entry: SetEntry = { type: 'set', stamp: s.stamp, elements, removed: unionTags(s.removed, tags) };
  const change: SetEntry = { type: 'set', stamp: s.stamp, elements: new Map(), removed: tags };
  return { entry, change };
}
