import { type IncomingRequest, NatsRequestJSONDeserializer } from '@nestjs/microservices';

/** The transport's request id for a NATS request that did not come from a Nest client. */
const FOREIGN_REQUEST_ID = 'foreign';

type DeserializeOptions = Parameters<NatsRequestJSONDeserializer['deserialize']>[1];

/**
 * Every request on a shard subject gets an answer, even one the Nest transport would drop: a
 * body that is not JSON reaches the shard service as its raw text (which it refuses by name),
 * and a plain NATS request without a Nest packet id still gets the error reply it asked for.
 */
export class ShardRequestDeserializer extends NatsRequestJSONDeserializer {
  override deserialize(value: Parameters<NatsRequestJSONDeserializer['deserialize']>[0], options?: DeserializeOptions): IncomingRequest {
    let packet: IncomingRequest;
    try {
      packet = super.deserialize(value, options) as IncomingRequest;
    } catch {
      packet = { pattern: options?.channel, data: value.string(), id: FOREIGN_REQUEST_ID };
    }
    return options?.replyTo && packet.id === undefined ? { ...packet, id: FOREIGN_REQUEST_ID } : packet;
  }
}
