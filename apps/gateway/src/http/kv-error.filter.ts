import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { KvError, type KvErrorCode } from '#commands';
import { Logger } from '#logging';

const STATUS: Record<KvErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  NOT_A_NUMBER: 409,
  OVERFLOW: 409,
  TOO_LARGE: 413,
  UNREPRESENTABLE: 422,
  UNAVAILABLE: 503,
  OVERLOADED: 503,
  SHUTTING_DOWN: 503,
  STORAGE: 500,
};

/** Every HTTP error leaves as `{ "error": { "code", "message" } }` with a status from its code. */
@Catch()
export class KvErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    let status: number;
    let body: { code: string; message: string };
    if (error instanceof KvError) {
      status = STATUS[error.code];
      body = { code: error.code, message: error.message };
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      body = { code: status === 404 ? 'NOT_FOUND' : status === 413 ? 'TOO_LARGE' : 'BAD_REQUEST', message: error.message };
    } else {
      this.logger.error('HTTP request failed unexpectedly', { error });
      status = 500;
      body = { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
    }
    void reply.status(status).header('content-type', 'application/json').send({ error: body });
  }
}
