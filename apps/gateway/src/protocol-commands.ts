import { Inject, Injectable } from '@nestjs/common';
import { ClientRegistry, type CommandPort, CommandTelemetry, type Protocol } from '#commands';
import { Telemetry } from '#telemetry';
import { COMMANDS } from '../../shared/src/tokens.js';

/** The command port as each protocol adapter calls it: counted, timed and traced under its protocol's name. */
@Injectable()
export class ProtocolCommands {
  readonly #telemetry: CommandTelemetry;
  readonly #ports = new Map<Protocol, CommandPort>();

  constructor(@Inject(COMMANDS) private readonly port: CommandPort, telemetry: Telemetry, clients: ClientRegistry) {
    this.#telemetry = new CommandTelemetry(telemetry.metrics, telemetry.tracing, clients);
  }

  for(protocol: Protocol): CommandPort {
    let port = this.#ports.get(protocol);
    if (!port) this.#ports.set(protocol, (port = this.#telemetry.instrument(this.port, protocol)));
    return port;
  }
}
