import { Controller, Get, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { NodeLifecycle } from '../../../shared/src/lifecycle.js';

/** Liveness and readiness probes. */
@Controller()
export class HealthController {
  constructor(private readonly lifecycle: NodeLifecycle) {}

  /** The process is up and its event loop answers. */
  @Get('healthz')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** The node takes requests: storage is open and it is not shutting down. */
  @Get('readyz')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const ready = this.lifecycle.isReady;
    await reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : this.lifecycle.isStopping ? 'stopping' : 'starting' });
  }
}
