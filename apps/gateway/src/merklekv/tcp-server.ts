import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { AccessControl, ClientRegistry, CommandStats } from '#commands';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { MERKLEKV_SESSION_PROTOCOL } from '#protocol';
import { NODE_CONFIG } from '../../../shared/src/tokens.js';
import { ProtocolCommands } from '../protocol-commands.js';
import { SessionListener } from '../tcp/session-listener.js';

/** The MerkleKV text protocol on TCP (default port 7379). */
@Injectable()
export class MerkleKvTcpServer implements BeforeApplicationShutdown {
  private readonly listener: SessionListener<unknown>;

  constructor(
    @Inject(NODE_CONFIG) config: NodeConfig,
    commands: ProtocolCommands,
    clients: ClientRegistry,
    stats: CommandStats,
    access: AccessControl,
    logger: Logger,
  ) {
    this.listener = new SessionListener({
      protocolName: 'merklekv',
      protocol: MERKLEKV_SESSION_PROTOCOL,
      port: config.port,
      config,
      executor: commands.for('merklekv'),
      access,
      clients,
      stats,
      logger: logger.child({ component: 'merklekv-tcp' }),
    });
  }

  /** Binds the port; resolves with the port actually bound (the configured one, or an ephemeral one for 0). */
  listen(): Promise<number> {
    return this.listener.listen();
  }

  /** Stops accepting, lets every connection finish the replies it owes, then closes them. */
  beforeApplicationShutdown(): Promise<void> {
    return this.listener.close();
  }
}
