import { Module } from '@nestjs/common';

/**
 * Anti-entropy coordinator: compares shard MST roots with live peers and repairs drift.
 * Not built yet (issue "Anti-entropy"); a standalone node has no peers to repair from.
 */
@Module({})
export class AntiEntropyModule {}
