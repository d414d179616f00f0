import { Controller, Delete, Get, HttpCode, HttpException, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { checkKey, type CommandPort, expiryAfterSeconds, KvError, remainingSeconds } from '#commands';
import { ProtocolCommands } from '../protocol-commands.js';
import { parseIncrAmount } from './incr-body.js';
import { etagOf, parseIfMatch, type Precondition } from './preconditions.js';

/** The remaining time-to-live of an expiring key, in whole seconds (rounded up), on GET. */
export const TTL_HEADER = 'merklekv-ttl';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/**
 * The key-value API over HTTP/JSON. Values are raw bytes in both directions (any content
 * type); keys are URL path segments (URL-encode `/`, spaces are not allowed in keys).
 */
@Controller('v1/kv')
export class KvController {
  private readonly commands: CommandPort;

  constructor(commands: ProtocolCommands) {
    this.commands = commands.for('http');
  }

  @Get()
  async scan(
    @Query('prefix') prefix: string | undefined,
    @Query('limit') limitText: string | undefined,
    @Query('cursor') cursor: string | undefined,
  ): Promise<{ keys: readonly string[]; cursor: string | null }> {
    const limit = parseLimit(limitText);
    const after = cursor ? decodeCursor(cursor) : undefined;
    // One more than asked tells whether another page exists.
    const keys = await this.commands.execute({ name: 'SCAN', prefix: prefix ?? '', after, limit: limit + 1 });
    const page = keys.slice(0, limit);
    return { keys: page, cursor: keys.length > limit ? encodeCursor(page[page.length - 1]!) : null };
  }

  /** The value, its ETag (the key's CAS value) and, when it expires, the seconds left. */
  @Get(':key')
  async get(@Param('key') key: string, @Res() reply: FastifyReply): Promise<void> {
    checkKey(key);
    const [item] = await this.commands.execute({ name: 'LOOKUP', keys: [key] });
    if (item === undefined) throw new KvError('NOT_FOUND', `key '${key}' not found`);
    void reply.header('content-type', 'application/octet-stream').header('etag', etagOf(item.cas));
    if (item.expiresAt !== undefined) void reply.header(TTL_HEADER, String(remainingSeconds(item.expiresAt, Date.now())));
    await reply.send(Buffer.from(item.value));
  }

  /**
   * Stores the body. `?ttl=` seconds makes the key expire (without it, a PUT clears an expiry).
   * `If-Match` stores only over the version named (`*`: any live one), `If-None-Match: *` only
   * where the key is absent; otherwise 412 and nothing changes. Answers the new ETag.
   */
  @Put(':key')
  async put(@Param('key') key: string, @Query('ttl') ttl: string | undefined, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    checkKey(key);
    const value = bodyBytes(request);
    const expiresAt = ttl === undefined ? undefined : expiryAfterSeconds(parseTtl(ttl), Date.now());
    const precondition = preconditionOf(request);
    const cas = precondition.kind === 'match' ? await this.currentMatch(key, precondition.etags) : undefined;
    const mode = precondition.kind === 'absent' ? 'add' : precondition.kind === 'exists' ? 'replace' : 'set';
    const result = await this.commands.execute({ name: 'STORE', key, value, mode, ...(cas === undefined ? {} : { cas }), ...(expiresAt === undefined ? {} : { expiresAt }) });
    if (result.outcome !== 'STORED') throw preconditionFailed(key, precondition);
    await reply.status(204).header('etag', etagOf(result.cas)).send();
  }

  /** Deletes the key; with `If-Match`, only the version named (`*`: any live one), else 412. */
  @Delete(':key')
  @HttpCode(204)
  async remove(@Param('key') key: string, @Req() request: FastifyRequest): Promise<void> {
    checkKey(key);
    const precondition = preconditionOf(request);
    if (precondition.kind === 'absent') throw new KvError('BAD_REQUEST', 'If-None-Match is not supported on DELETE');
    if (precondition.kind === 'none') {
      if (!(await this.commands.execute({ name: 'DEL', key }))) throw new KvError('NOT_FOUND', `key '${key}' not found`);
      return;
    }
    const cas = precondition.kind === 'match' ? await this.currentMatch(key, precondition.etags) : undefined;
    const result = await this.commands.execute({ name: 'REMOVE', key, ...(cas === undefined ? {} : { cas }) });
    if (result.outcome !== 'DELETED') throw preconditionFailed(key, precondition);
  }

  /**
   * The CAS value to make the write conditional on: the key's current one when it is among the
   * ETags named (the write then stores only if nothing changed it meanwhile), else one that
   * cannot match. One ETag, the usual case, needs no read first.
   */
  private async currentMatch(key: string, etags: readonly bigint[]): Promise<bigint> {
    if (etags.length === 1) return etags[0]!;
    const [item] = await this.commands.execute({ name: 'LOOKUP', keys: [key] });
    return item !== undefined && etags.includes(item.cas) ? item.cas : 0n;
  }

  /** Body `{"amount": n}` (see {@link parseIncrAmount}). 200, as documented (Nest answers a POST with 201 by default). */
  @Post(':key/incr')
  @HttpCode(200)
  async incr(@Param('key') key: string, @Req() request: FastifyRequest): Promise<{ key: string; value: string }> {
    checkKey(key);
    const value = await this.commands.execute({ name: 'INCR', key, amount: parseIncrAmount(Buffer.isBuffer(request.body) ? request.body : undefined) });
    return { key, value: value.toString() };
  }
}

/** `If-Match` and `If-None-Match` as a precondition; both at once is not supported. */
function preconditionOf(request: FastifyRequest): Precondition {
  const ifMatch = request.headers['if-match'];
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) throw new KvError('BAD_REQUEST', 'If-Match and If-None-Match together are not supported');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new KvError('BAD_REQUEST', 'If-None-Match supports only *');
    return { kind: 'absent' };
  }
  return ifMatch === undefined ? { kind: 'none' } : parseIfMatch(ifMatch);
}

function preconditionFailed(key: string, precondition: Precondition): HttpException {
  const why = precondition.kind === 'absent' ? `key '${key}' exists` : `key '${key}' does not match If-Match`;
  return new HttpException(why, 412);
}

/** `?ttl=`: whole seconds, at least 1. */
function parseTtl(text: string): number {
  const seconds = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!(seconds >= 1)) throw new KvError('BAD_REQUEST', `ttl must be a whole number of seconds from 1, got '${text}'`);
  return seconds;
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
