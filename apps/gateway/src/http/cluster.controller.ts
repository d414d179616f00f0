import { Controller, Get, Inject, Optional } from '@nestjs/common';
import { type ClusterPort } from '#commands';
import { Store } from '#store';
import { CLUSTER_PORT } from '../../../shared/src/tokens.js';

/** `GET /v1/cluster`: this node, its replication state and its view of the peers. */
@Controller('v1/cluster')
export class ClusterController {
  constructor(
    private readonly store: Store,
    @Optional() @Inject(CLUSTER_PORT) private readonly cluster: ClusterPort | undefined,
  ) {}

  @Get()
  view(): object {
    return this.cluster?.view() ?? { mode: 'standalone', node: { id: this.store.nodeId, replicating: false }, peers: [] };
  }
}
