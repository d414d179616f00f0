/**
 * The local two-tree diff: a merge walk over both trees that skips every pair of subtrees with
 * equal hashes (see the essay in tree.ts). Both trees are snapshotted when the walk starts.
 */
import { compareKeys, childAt, copyDigest, copyKey, allocNode, loaded, type MstNode, sameDigest, sameHash } from './node.js';
import { type MerkleSearchTree, rootNode } from './tree.js';

/** One key whose state differs; a missing side is undefined. Digests are copies. */
export interface DiffEntry {
  readonly key: Uint8Array;
  readonly local: Uint8Array | undefined;
  readonly remote: Uint8Array | undefined;
}

/** The keys on which two trees disagree, each list in ascending key order. */
export interface KeyDiff {
  /** Present locally, absent remotely. */
  readonly localOnly: Uint8Array[];
  /** Present remotely, absent locally. */
  readonly remoteOnly: Uint8Array[];
  /** Present on both sides with different digests. */
  readonly different: Uint8Array[];
}

/**
 * A position in a tree's token stream: child_0, key_0, child_1, ..., key_n-1, child_n per node,
 * empty children skipped. Token p of a node is child p/2 when p is even, key (p-1)/2 when odd.
 */
class Cursor {
  readonly #nodes: MstNode[] = [];
  readonly #pos: number[] = [];

  constructor(root: MstNode | null) {
    // A key-less frame whose only child is the root makes the root a subtree token like any other.
    const frame = allocNode(0, 0, 0, 0, [root]);
    this.#nodes.push(frame);
    this.#pos.push(0);
    this.#settle();
  }

  get done(): boolean {
    return this.#nodes.length === 0;
  }

  get atSubtree(): boolean {
    return (this.#pos[this.#pos.length - 1]! & 1) === 0;
  }

  /** The subtree under the cursor (only when atSubtree). */
  get subtree(): MstNode {
    const top = this.#nodes.length - 1;
    return childAt(this.#nodes[top]!, this.#pos[top]! >>> 1)!;
  }

  /** The node and index of the key under the cursor (only when !atSubtree). */
  get node(): MstNode {
    return loaded(this.#nodes[this.#nodes.length - 1]!);
  }

  get index(): number {
    return (this.#pos[this.#pos.length - 1]! - 1) >>> 1;
  }

  /** Skips the current token (a whole subtree, or a key). */
  advance(): void {
    this.#pos[this.#pos.length - 1]!++;
    this.#settle();
  }

  /** Replaces the current subtree token by its contents. */
  descend(): void {
    this.#nodes.push(this.subtree);
    this.#pos.push(0);
    this.#settle();
  }

  #settle(): void {
    const nodes = this.#nodes;
    const pos = this.#pos;
    while (nodes.length > 0) {
      const top = nodes.length - 1;
      // A walk spans many steps: an eviction sweep in between may have made a node a stub again.
      const nd = loaded(nodes[top]!);
      const p = pos[top]!;
      if (p > 2 * nd.n) {
        nodes.pop();
        pos.pop();
        if (pos.length > 0) pos[pos.length - 1]!++;
        continue;
      }
      if ((p & 1) === 0 && childAt(nd, p >>> 1) === null) {
        pos[top] = p + 1;
        continue;
      }
      return;
    }
  }
}

/**
 * Differences between two trees in ascending key order, lazily. Both trees are snapshotted
 * first, so writes during the iteration do not disturb it.
 */
export function diffEntries(local: MerkleSearchTree, remote: MerkleSearchTree): IterableIterator<DiffEntry> {
  return walk(rootNode(local.snapshot()), rootNode(remote.snapshot()));
}

function* walk(localRoot: MstNode | null, remoteRoot: MstNode | null): Generator<DiffEntry, undefined, undefined> {
  const a = new Cursor(localRoot);
  const b = new Cursor(remoteRoot);
  while (!a.done && !b.done) {
    if (a.atSubtree && b.atSubtree) {
      const sa = a.subtree;
      const sb = b.subtree;
      if (sameHash(sa, sb)) {
        a.advance();
        b.advance();
      } else if (sa.layer > sb.layer) a.descend();
      else if (sa.layer < sb.layer) b.descend();
      else {
        a.descend();
        b.descend();
      }
    } else if (a.atSubtree) a.descend();
    else if (b.atSubtree) b.descend();
    else {
      const na = a.node;
      const ia = a.index;
      const nb = b.node;
      const ib = b.index;
      const c = compareKeys(na, ia, nb, ib);
      if (c < 0) {
        yield { key: copyKey(na, ia), local: copyDigest(na, ia), remote: undefined };
        a.advance();
      } else if (c > 0) {
        yield { key: copyKey(nb, ib), local: undefined, remote: copyDigest(nb, ib) };
        b.advance();
      } else {
        if (!sameDigest(na, ia, nb, ib)) yield { key: copyKey(na, ia), local: copyDigest(na, ia), remote: copyDigest(nb, ib) };
        a.advance();
        b.advance();
      }
    }
  }
  for (const [cur, isLocal] of [[a, true], [b, false]] as const) {
    while (!cur.done) {
      if (cur.atSubtree) {
        cur.descend();
        continue;
      }
      const digest = copyDigest(cur.node, cur.index);
      yield { key: copyKey(cur.node, cur.index), local: isLocal ? digest : undefined, remote: isLocal ? undefined : digest };
      cur.advance();
    }
  }
  return undefined;
}

/** The keys on which `local` and `remote` disagree. */
export function diff(local: MerkleSearchTree, remote: MerkleSearchTree): KeyDiff {
  const out: KeyDiff = { localOnly: [], remoteOnly: [], different: [] };
  for (const e of diffEntries(local, remote)) {
    if (e.remote === undefined) out.localOnly.push(e.key);
    else if (e.local === undefined) out.remoteOnly.push(e.key);
    else out.different.push(e.key);
  }
  return out;
}
