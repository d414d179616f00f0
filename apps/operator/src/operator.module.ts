import { Module } from '@nestjs/common';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { BackupController } from './backup.controller.js';
import { DashboardController } from './dashboard.controller.js';
import { DashboardService } from './dashboard.service.js';

/** What an all-in-one node serves operators on its HTTP port besides the API: the dashboard and online backups. */
@Module({
  imports: [StoreShardModule],
  controllers: [BackupController, DashboardController],
  providers: [DashboardService],
})
export class OperatorModule {}
