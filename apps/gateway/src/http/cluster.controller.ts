import { Controller, Get, Inject } from '@nestjs/common';
import { CLUSTER_VIEW, type ClusterViewSource } from '../../../shared/src/tokens.js';

/** `GET /v1/cluster`: this node (or split deployment), its replication state and its view of the peers. */
@Controller('v1/cluster')
export class ClusterController {
  constructor(@Inject(CLUSTER_VIEW) private readonly cluster: ClusterViewSource) {}

  @Get()
  view(): object | Promise<object> {
    return this.cluster.view();
  }
}
