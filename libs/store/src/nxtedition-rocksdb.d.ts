// The package ships no types; this declares the part of its abstract-level API the engine uses.
declare module '@nxtedition/rocksdb' {
  interface RangeOptions {
    gte?: Buffer;
    lt?: Buffer;
  }
  interface BatchOp {
    type: 'put' | 'del';
    key: Buffer;
    value?: Uint8Array;
  }
  interface ChainedBatch {
    put(key: Buffer, value: Uint8Array): this;
    del(key: Buffer): this;
    write(options?: { sync?: boolean }): Promise<void>;
  }
  interface Iterator {
    nextv(size: number): Promise<[Buffer, Buffer][]>;
    close(): Promise<void>;
  }
  export class RocksLevel {
    constructor(location: string, options?: { keyEncoding?: 'buffer'; valueEncoding?: 'buffer' });
    readonly status: string;
    open(options?: { createIfMissing?: boolean }): Promise<void>;
    close(): Promise<void>;
    batch(): ChainedBatch;
    batch(ops: BatchOp[], options?: { sync?: boolean }): Promise<void>;
    getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]>;
    iterator(options?: RangeOptions): Iterator;
    clear(options?: RangeOptions): Promise<void>;
  }
}
