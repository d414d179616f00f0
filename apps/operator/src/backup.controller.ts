import { once } from 'node:events';
import { Controller, Get, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { Store } from '#store';

/**
 * `GET /v1/admin/backup`: the node's online backup as a stream of frames (`libs/store/src/backup.ts`),
 * read from one consistent view of its store while it keeps serving. `merklekv backup` saves it.
 */
@Controller('v1/admin/backup')
export class BackupController {
  constructor(private readonly store: Store) {}

  @Get()
  async backup(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const frames = this.store.backup();
    const out = reply.raw;
    reply.hijack();
    // A large store takes a while to stream: not an idle connection.
    request.raw.socket.setTimeout(0);
    out.writeHead(200, { 'content-type': 'application/vnd.merklekv.backup', 'cache-control': 'no-store' });
    let aborted = false;
    out.on('close', () => (aborted = true));
    try {
      for (const frame of frames) {
        if (aborted) break;
        if (!out.write(frame)) await Promise.race([once(out, 'drain'), once(out, 'close')]);
      }
    } catch (err) {
      // Cut short, the stream lacks its end frame: the client refuses it as incomplete.
      out.destroy(err as Error);
      return;
    } finally {
      frames.return();
    }
    out.end();
  }
}
