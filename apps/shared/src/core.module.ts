import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { NodeLifecycle } from './lifecycle.js';
import { NODE_CONFIG } from './tokens.js';

/** Process-wide singletons every app module may inject: config, logger, lifecycle. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: NODE_CONFIG, useValue: config },
        { provide: Logger, useValue: logger },
        { provide: NodeLifecycle, useValue: lifecycle },
      ],
      exports: [NODE_CONFIG, Logger, NodeLifecycle],
    };
  }
}
