import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Controller, Get, NotFoundException, Param, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { PACKAGE_ROOT } from '../../shared/src/version.js';
import { DashboardService } from './dashboard.service.js';

/** Unsent bytes beyond which a dashboard that stopped reading is disconnected. */
const MAX_UNSENT_BYTES = 1024 * 1024;

const resolve = createRequire(import.meta.url).resolve;
/** The files of the page, served as they are: ours, and uPlot's from node_modules (no CDN: works offline). */
const ASSETS: Readonly<Record<string, { readonly path: string; readonly type: string }>> = {
  'index.html': { path: join(PACKAGE_ROOT, 'apps/operator/dashboard/index.html'), type: 'text/html; charset=utf-8' },
  'app.js': { path: join(PACKAGE_ROOT, 'apps/operator/dashboard/app.js'), type: 'text/javascript; charset=utf-8' },
  'app.css': { path: join(PACKAGE_ROOT, 'apps/operator/dashboard/app.css'), type: 'text/css; charset=utf-8' },
  'uPlot.js': { path: resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.css': { path: resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/**
 * The cluster dashboard: the page at `/`, its files under `/dashboard/`, and `GET
 * /v1/dashboard/events`, the node's ticks as server-sent events (the last ten minutes first). The
 * page opens the events of every member, so the stream allows any origin: it carries figures,
 * never keys or values.
 */
@Controller()
export class DashboardController {
  constructor(private readonly dashboard: DashboardService) {}

  @Get()
  page(@Res() reply: FastifyReply): Promise<void> {
    return sendAsset(reply, 'index.html');
  }

  @Get('dashboard/:file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply): Promise<void> {
    return sendAsset(reply, file);
  }

  @Get('v1/dashboard/events')
  events(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const out = reply.raw;
    reply.hijack();
    request.raw.socket.setTimeout(0);
    out.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'access-control-allow-origin': '*',
    });
    out.write(`event: history\ndata: ${JSON.stringify(this.dashboard.recent())}\n\n`);
    const unsubscribe = this.dashboard.subscribe((tick) => {
      if (out.writableLength > MAX_UNSENT_BYTES) {
        unsubscribe();
        out.destroy();
        return;
      }
      out.write(`event: tick\ndata: ${JSON.stringify(tick)}\n\n`);
    });
    request.raw.on('close', unsubscribe);
  }
}

async function sendAsset(reply: FastifyReply, name: string): Promise<void> {
  const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!asset) throw new NotFoundException(`no dashboard file ${name}`);
  await reply.header('content-type', asset.type).header('cache-control', 'no-cache').send(await readFile(asset.path));
}
