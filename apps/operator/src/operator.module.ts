import { Module } from '@nestjs/common';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { BackupController } from './backup.controller.js';

/** What an all-in-one node serves operators on its HTTP port besides the API: online backups. */
@Module({
  imports: [StoreShardModule],
  controllers: [BackupController],
})
export class OperatorModule {}
