import { ReplicationError } from './errors.js';
import { consumerName, replicationSubjects } from './subjects.js';

describe('replicationSubjects', () => {
  it('names the stream, the change subjects, the membership subject and the consumer', () => {
    const s = replicationSubjects('merkle_kv');
    expect(s.stream).toBe('MERKLEKV_merkle_kv');
    expect(s.changesWildcard).toBe('merklekv.merkle_kv.changes.>');
    expect(s.changes(0)).toBe('merklekv.merkle_kv.changes.0');
    expect(s.changes(4095)).toBe('merklekv.merkle_kv.changes.4095');
    expect(s.members).toBe('merklekv.merkle_kv.members');
    expect(consumerName('node-1')).toBe('node_node-1');
  });

  it('reads the shard back from a change subject of the same cluster only', () => {
    const s = replicationSubjects('c-1');
    for (const shard of [0, 1, 15, 4095]) expect(s.shardOf(s.changes(shard))).toBe(shard);
    for (const subject of [
      'merklekv.c-1.changes.',
      'merklekv.c-1.changes.4096',
      'merklekv.c-1.changes.01',
      'merklekv.c-1.changes.-1',
      'merklekv.c-1.changes.1.2',
      'merklekv.c-1.changes.x',
      'merklekv.c-2.changes.1',
      'merklekv.c-1.members',
    ]) {
      expect(s.shardOf(subject)).toBeUndefined();
    }
  });

  it('refuses names that are not subject tokens, and shards out of range', () => {
    for (const bad of ['', 'a.b', 'a*', 'a>', 'a b', 'x'.repeat(65), 'é']) {
      expect(() => replicationSubjects(bad)).toThrow(ReplicationError);
      expect(() => consumerName(bad)).toThrow(ReplicationError);
    }
    const s = replicationSubjects('c');
    for (const shard of [-1, 4096, 1.5, Number.NaN]) expect(() => s.changes(shard)).toThrow(expect.objectContaining({ code: 'BAD_RECORD' }));
  });
});
