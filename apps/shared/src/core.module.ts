import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { Telemetry } from '#telemetry';
import { NodeLifecycle } from './lifecycle.js';
import { Readiness } from './readiness.js';
import { NODE_CONFIG } from './tokens.js';

/** Process-wide singletons every app module may inject: config, logger, lifecycle, telemetry, readiness checks. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle, telemetry: Telemetry): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: NODE_CONFIG, useValue: config },
        { provide: Logger, useValue: logger },
        { provide: NodeLifecycle, useValue: lifecycle },
        { provide: Telemetry, useValue: telemetry },
        { provide: Readiness, useValue: new Readiness(lifecycle) },
      ],
      exports: [NODE_CONFIG, Logger, NodeLifecycle, Telemetry, Readiness],
    };
  }
}
