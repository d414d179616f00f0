import { Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { checkKey, KvError } from '#commands';
import { HttpCommands } from './http-access.js';
import { parseIncrAmount } from './incr-body.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/**
 * The key-value API over HTTP/JSON. Values are raw bytes in both directions (any content
 * type); keys are URL path segments (URL-encode `/`, spaces are not allowed in keys).
 */
@Controller('v1/kv')
export class KvController {
  constructor(private readonly commands: HttpCommands) {}

  @Get()
  async scan(
    @Req() request: FastifyRequest,
    @Query('prefix') prefix: string | undefined,
    @Query('limit') limitText: string | undefined,
    @Query('cursor') cursor: string | undefined,
  ): Promise<{ keys: readonly string[]; cursor: string | null }> {
    const limit = parseLimit(limitText);
    const after = cursor ? decodeCursor(cursor) : undefined;
    // One more than asked tells whether another page exists.
    const keys = await this.commands.of(request).execute({ name: 'SCAN', prefix: prefix ?? '', after, limit: limit + 1 });
    const page = keys.slice(0, limit);
    return { keys: page, cursor: keys.length > limit ? encodeCursor(page[page.length - 1]!) : null };
  }

  @Get(':key')
  async get(@Param('key') key: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    checkKey(key);
    const value = await this.commands.of(request).execute({ name: 'GET', key });
    if (value === undefined) throw new KvError('NOT_FOUND', `key '${key}' not found`);
    await reply.header('content-type', 'application/octet-stream').send(Buffer.from(value));
  }

  @Put(':key')
  @HttpCode(204)
  async put(@Param('key') key: string, @Req() request: FastifyRequest): Promise<void> {
    checkKey(key);
    await this.commands.of(request).execute({ name: 'SET', key, value: bodyBytes(request) });
  }

  @Delete(':key')
  @HttpCode(204)
  async remove(@Param('key') key: string, @Req() request: FastifyRequest): Promise<void> {
    checkKey(key);
    if (!(await this.commands.of(request).execute({ name: 'DEL', key }))) throw new KvError('NOT_FOUND', `key '${key}' not found`);
  }

  /** Body `{"amount": n}` (see {@link parseIncrAmount}). 200, as documented (Nest answers a POST with 201 by default). */
  @Post(':key/incr')
  @HttpCode(200)
  async incr(@Param('key') key: string, @Req() request: FastifyRequest): Promise<{ key: string; value: string }> {
    checkKey(key);
    const value = await this.commands.of(request).execute({ name: 'INCR', key, amount: parseIncrAmount(Buffer.isBuffer(request.body) ? request.body : undefined) });
    return { key, value: value.toString() };
  }
}

function bodyBytes(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

function parseLimit(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_PAGE;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new KvError('BAD_REQUEST', `limit must be an integer from 1 to ${MAX_PAGE}, got '${text}'`);
  }
  return n;
}

const encodeCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');

function decodeCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new KvError('BAD_REQUEST', 'cursor is not one this server issued');
  return Buffer.from(cursor, 'base64url').toString('utf8');
}
