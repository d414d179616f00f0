import { Controller, Get, Inject, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { CLUSTER_VIEW, type ClusterViewSource } from '../../../shared/src/tokens.js';
import { HttpCommands } from './http-access.js';

/** `GET /v1/cluster`: this node (or split deployment), its replication state and its view of the peers. */
@Controller('v1/cluster')
export class ClusterController {
  constructor(
    @Inject(CLUSTER_VIEW) private readonly cluster: ClusterViewSource,
    private readonly commands: HttpCommands,
  ) {}

  @Get()
  view(@Req() request: FastifyRequest): object | Promise<object> {
    this.commands.requireSignedIn(request);
    return this.cluster.view();
  }
}
