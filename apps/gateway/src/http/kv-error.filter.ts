import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { KvError } from '#commands';
import { Logger } from '#logging';
import { codeOfStatus, errorBody, type HttpErrorBody, STATUS_OF } from './error-body.js';
import { WWW_AUTHENTICATE } from './http-access.js';

/** Every HTTP error leaves as `{ "error": { "code", "message" } }` with a status from its code. */
@Catch()
export class KvErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    let status: number;
    let body: HttpErrorBody;
    if (error instanceof KvError) {
      status = STATUS_OF[error.code];
      body = errorBody(error.code, error.message);
      if (status === 401) void reply.header('www-authenticate', WWW_AUTHENTICATE);
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      body = errorBody(codeOfStatus(status), error.message);
    } else {
      this.logger.error('HTTP request failed unexpectedly', { error });
      status = 500;
      body = errorBody('INTERNAL', error instanceof Error ? error.message : String(error));
    }
    void reply.status(status).header('content-type', 'application/json').send(body);
  }
}
