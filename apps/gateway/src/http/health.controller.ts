import { Controller, Get, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { Telemetry } from '#telemetry';
import { health, metrics, type ProbeReply, readiness } from '../../../shared/src/probes.js';
import { Readiness } from '../../../shared/src/readiness.js';

/** Liveness and readiness probes, and the Prometheus metrics. */
@Controller()
export class HealthController {
  constructor(
    private readonly readiness: Readiness,
    private readonly telemetry: Telemetry,
  ) {}

  @Get('healthz')
  health(@Res() reply: FastifyReply): Promise<void> {
    return send(reply, health());
  }

  @Get('readyz')
  ready(@Res() reply: FastifyReply): Promise<void> {
    return send(reply, readiness(this.readiness));
  }

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    await send(reply, await metrics(this.telemetry.metrics));
  }
}

async function send(reply: FastifyReply, probe: ProbeReply): Promise<void> {
  await reply.status(probe.status).header('content-type', probe.contentType).send(probe.body);
}
