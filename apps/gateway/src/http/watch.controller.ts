import { isUtf8 } from 'node:buffer';
import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type WatchEvent } from '#commands';
import { HttpCommands } from './http-access.js';

/** Unsent bytes beyond which a slow SSE client is disconnected rather than buffered. */
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;

/**
 * `GET /v1/watch?prefix=`: server-sent events, one per committed change of a key with the prefix,
 * from this node or replicated. `event: change` carries `{"key","value"}` (`valueBase64` instead
 * of `value` when the bytes are not UTF-8), `event: deleted` `{"key"}`, `event: truncated` `{}`.
 */
@Controller('v1/watch')
export class WatchController {
  constructor(private readonly commands: HttpCommands) {}

  @Get()
  async watch(@Query('prefix') prefix: string | undefined, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const feed = await this.commands.of(request).execute({ name: 'WATCH', prefix: prefix ?? '' });
    const out = reply.raw;
    reply.hijack();
    // Waiting for events is not idleness: the idle timeout does not apply to this connection.
    request.raw.socket.setTimeout(0);
    out.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    out.write(': watching\n\n');
    feed.start((event) => {
      if (out.writableLength > MAX_UNSENT_BYTES) {
        feed.stop();
        out.destroy();
        return;
      }
      out.write(`event: ${event.kind}\ndata: ${JSON.stringify(eventData(event))}\n\n`);
    });
    request.raw.on('close', () => feed.stop());
  }
}

function eventData(event: WatchEvent): object {
  switch (event.kind) {
    case 'change':
      return isUtf8(event.value)
        ? { key: event.key, value: Buffer.from(event.value).toString('utf8') }
        : { key: event.key, valueBase64: Buffer.from(event.value).toString('base64') };
    case 'deleted':
      return { key: event.key };
    case 'truncated':
      return {};
  }
}
