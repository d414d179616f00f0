// The package ships no types; this declares the part of its API the engine uses: abstract-level's
// promise methods, and the binding's synchronous reads (underscored, but what its own async
// methods are built on).
declare module '@nxtedition/rocksdb' {
  export interface RangeOptions {
    gt?: Buffer;
    gte?: Buffer;
    lt?: Buffer;
  }
  interface ChainedBatch {
    put(key: Buffer, value: Uint8Array): this;
    del(key: Buffer): this;
    write(options?: { sync?: boolean }): Promise<void>;
  }
  interface Iterator {
    nextv(size: number): Promise<[Buffer, Buffer][]>;
    /** Up to `size` rows, flattened as key, value, key, value...; `finished` once the range is exhausted. */
    _nextvSync(size: number, options: object): { rows: Buffer[]; finished: boolean };
    close(): Promise<void>;
  }
  interface OpenOptions {
    createIfMissing?: boolean;
    /** Block cache bytes (a uint32: at most 4 GiB - 1). */
    cacheSize?: number;
    cacheIndexAndFilterBlocks?: boolean;
    compaction?: 'level' | 'universal';
    memtableMemoryBudget?: number;
    /**
     * 'point-lookup': a hash index in each data block, Ribbon filters below level 0 (Bloom in
     * it) and a whole-key Bloom filter in each memtable.
     */
    optimize?: 'point-lookup';
  }
  export class RocksLevel {
    constructor(location: string, options?: { keyEncoding?: 'buffer'; valueEncoding?: 'buffer' });
    readonly status: string;
    /** The open native database, for another thread to share (`new RocksLevel(handle)` there, or the binding's `db_init`). */
    readonly handle: bigint;
    open(options?: OpenOptions): Promise<void>;
    close(): Promise<void>;
    batch(): ChainedBatch;
    getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]>;
    _getManySync(keys: Buffer[]): (Buffer | undefined)[];
    iterator(options?: RangeOptions): Iterator;
    /** Deletes the range; without a limit, one RocksDB range deletion. */
    clear(options?: RangeOptions): Promise<void>;
    getProperty(property: string): string;
  }
}
