/**
 * The command layer's metrics and spans, in one place: every client command counted by
 * outcome, timed and (tracing on) traced, whatever the protocol; the shard actor's apply as a
 * span; and, in split deployments, the gateway's requests to store-shard processes and their
 * serving on the other side. With tracing off nothing here builds a span or an attribute.
 */
import { shardOf, type Keyspace } from '#store';
import {
  ATTR,
  type Context,
  type CounterChild,
  extractTraceContext,
  type HeaderCarrier,
  type HistogramChild,
  inSpan,
  keyHash,
  LATENCY_BUCKETS,
  type Metrics,
  SPAN,
  SpanKind,
  type Tracing,
} from '#telemetry';
import { type ClientRegistry } from './clients.js';
import { type Command, type CommandName, type CommandOf } from './command.js';
import { isKvError } from './errors.js';
import { type CommandPort } from './executor.js';
import { type Reply } from './handlers.js';
import { type ShardChannel } from './split/router.js';

/** The protocols a command can come from: a label of the command metrics and an attribute of their spans. */
export type Protocol = 'merklekv' | 'http' | 'memcached';

/** A command's outcome: `ok`, or the stable code of the error it failed with. */
const outcomeOf = (err: unknown): string => (isKvError(err) ? err.code : 'INTERNAL');

/** The series of one command of one protocol, bound once. */
interface CommandSeries {
  readonly ok: CounterChild;
  readonly latency: HistogramChild;
  failed(outcome: string): CounterChild;
}

/** The command metrics of one process, shared by its protocol adapters. */
export class CommandTelemetry {
  readonly #commands;
  readonly #latency;

  constructor(
    metrics: Metrics,
    private readonly tracing: Tracing,
    clients: ClientRegistry,
  ) {
    this.#commands = metrics.counter({ name: 'commands_total', help: 'Client commands, by protocol, command and outcome (ok, or an error code).', labels: ['protocol', 'command', 'outcome'] });
    this.#latency = metrics.histogram({
      name: 'command_duration_seconds',
      help: 'Client command latency, from the decoded request to the result (for a write: durable).',
      labels: ['protocol', 'command'],
      buckets: LATENCY_BUCKETS,
    });
    metrics.gauge({
      name: 'connections',
      help: 'Open client connections, by protocol.',
      labels: ['protocol'],
      collect: (report) => {
        for (const [protocol, n] of clients.activeByProtocol()) report(n, { protocol });
      },
    });
    metrics.counter({ name: 'connections_accepted_total', help: 'Client connections accepted.', collect: (report) => report(clients.totalCount, {}) });
  }

  /** `port` as `protocol`'s adapter calls it. */
  instrument(port: CommandPort, protocol: Protocol): CommandPort {
    const series = new Map<CommandName, CommandSeries>();
    const seriesOf = (command: CommandName): CommandSeries => {
      let found = series.get(command);
      if (!found) {
        found = {
          ok: this.#commands.labels({ protocol, command, outcome: 'ok' }),
          latency: this.#latency.labels({ protocol, command }),
          failed: (outcome) => this.#commands.labels({ protocol, command, outcome }),
        };
        series.set(command, found);
      }
      return found;
    };
    const { tracing } = this;
    return {
      execute<N extends CommandName>(command: CommandOf<N>): Reply<N> {
        const began = performance.now();
        const of = seriesOf(command.name);
        let result: Reply<N>;
        try {
          result = tracing.enabled
            ? inSpan(tracing.tracer, SPAN.command(protocol, command.name), { kind: SpanKind.SERVER, attributes: commandAttributes(protocol, command) }, () =>
                port.execute(command),
              )
            : port.execute(command);
        } catch (err) {
          observe(of.latency, began, of.failed(outcomeOf(err)));
          throw err;
        }
        if (result instanceof Promise) {
          result.then(
            () => observe(of.latency, began, of.ok),
            (err: unknown) => observe(of.latency, began, of.failed(outcomeOf(err))),
          );
        } else {
          observe(of.latency, began, of.ok);
        }
        return result;
      },
    };
  }
}

/** One request done: its latency since `began`, counted under its outcome. */
function observe(latency: HistogramChild, began: number, outcome: CounterChild): void {
  latency.observe((performance.now() - began) / 1000);
  outcome.inc();
}

function commandAttributes(protocol: Protocol, command: Command): Record<string, string | number> {
  const attributes: Record<string, string | number> = { [ATTR.protocol]: protocol, [ATTR.command]: command.name };
  if ('key' in command) attributes[ATTR.keyHash] = keyHash(command.key);
  else if ('keys' in command) attributes[ATTR.keyCount] = command.keys.length;
  else if ('pairs' in command) attributes[ATTR.keyCount] = command.pairs.length;
  return attributes;
}

/**
 * The keyspace with each local mutation a span through its shard's actor (queued, applied,
 * durable); the store reads the span's context for the change's outbox record. The keyspace
 * itself when tracing is off.
 */
export function tracedKeyspace(keyspace: Keyspace, tracing: Tracing, shards: number): Keyspace {
  if (!tracing.enabled) return keyspace;
  const { tracer } = tracing;
  return {
    read: (key) => keyspace.read(key),
    readMany: (keys) => keyspace.readMany(keys),
    readBatched: (key) => keyspace.readBatched(key),
    update: (key, update) =>
      inSpan(tracer, SPAN.shardApply, { attributes: { [ATTR.shard]: shardOf(key, shards), [ATTR.keyHash]: keyHash(key) } }, () => keyspace.update(key, update)),
    truncate: () => inSpan(tracer, SPAN.shardApply, { attributes: { [ATTR.command]: 'TRUNCATE' } }, () => keyspace.truncate()),
    get liveKeys() {
      return keyspace.liveKeys;
    },
    get dataBytes() {
      return keyspace.dataBytes;
    },
    scanKeys: (prefix, after, limit) => keyspace.scanKeys(prefix, after, limit),
    liveEntries: (prefix, after) => keyspace.liveEntries(prefix, after),
    onCommit: (listener) => keyspace.onCommit(listener),
  };
}

/**
 * A gateway's channel to the store-shard processes, each request counted, timed and (tracing
 * on) a CLIENT span that is active while the transport sends it, so that the transport can put
 * its context in the request's headers.
 */
export function instrumentShardChannel(channel: ShardChannel, metrics: Metrics, tracing: Tracing): ShardChannel {
  const requests = metrics.counter({ name: 'shard_requests_total', help: 'Requests from this gateway to store-shard processes, by outcome (ok or error).', labels: ['outcome'] });
  const ok = requests.labels({ outcome: 'ok' });
  const failed = requests.labels({ outcome: 'error' });
  const latency = metrics.histogram({ name: 'shard_request_duration_seconds', help: 'Round trips from this gateway to store-shard processes.', buckets: LATENCY_BUCKETS });
  return {
    request(shard, message) {
      const began = performance.now();
      const send = (): Promise<unknown> => channel.request(shard, message);
      const result = tracing.enabled
        ? inSpan(tracing.tracer, SPAN.shardRequest, { kind: SpanKind.CLIENT, attributes: { [ATTR.shard]: shard, [ATTR.messagingSystem]: 'nats' } }, send)
        : send();
      result.then(
        () => observe(latency, began, ok),
        () => observe(latency, began, failed),
      );
      return result;
    },
    openInbox: (onMessage) => channel.openInbox(onMessage),
  };
}

/** Runs a store-shard process's answer to one request as a SERVER span continuing the gateway's trace (from the request's headers). */
export function traceShardServe<T>(tracing: Tracing, shard: number, headers: HeaderCarrier | undefined, serve: () => Promise<T>): Promise<T> {
  if (!tracing.enabled) return serve();
  const parent: Context = extractTraceContext(headers);
  return inSpan(tracing.tracer, SPAN.shardServe, { kind: SpanKind.SERVER, attributes: { [ATTR.shard]: shard, [ATTR.messagingSystem]: 'nats' } }, serve, parent);
}
