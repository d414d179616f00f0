import { type LoggerService } from '@nestjs/common';
import { type Logger } from '#logging';

/**
 * Routes Nest's own messages into the node's JSON log. Nest's routine bootstrap chatter
 * ("Mapped {/v1/kv} route") is debug here, so a default node logs only what an operator needs.
 */
export class NestJsonLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.debug(String(message), { context });
  }

  error(message: unknown, stack?: string, context?: string): void {
    // Nest reports a failed bootstrap here and then throws it to main, which reports it once.
    if (context === 'ExceptionHandler') this.logger.debug(String(message), { context, stack });
    else this.logger.error(String(message), { context, stack });
  }

  warn(message: unknown, context?: string): void {
    this.logger.warn(String(message), { context });
  }

  debug(message: unknown, context?: string): void {
    this.logger.debug(String(message), { context });
  }

  verbose(message: unknown, context?: string): void {
    this.logger.debug(String(message), { context });
  }
}
