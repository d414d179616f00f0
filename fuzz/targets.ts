/** Every fuzz target, in the order the runner runs them. */
import { antiEntropyCodecTarget } from './anti-entropy-codec.fuzz.js';
import { changeCodecTarget } from './change-codec.fuzz.js';
import { configLoaderTarget } from './config-loader.fuzz.js';
import { memcachedDecoderTarget } from './memcached-decoder.fuzz.js';
import { merkleKvDecoderTarget } from './merklekv-decoder.fuzz.js';
import { type FuzzTarget } from './target.js';

export const FUZZ_TARGETS: readonly FuzzTarget[] = [merkleKvDecoderTarget, memcachedDecoderTarget, changeCodecTarget, antiEntropyCodecTarget, configLoaderTarget];
