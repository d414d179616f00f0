import { type Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { type KvErrorCode } from '#commands';

/**
 * HTTP-only codes: what the framework refuses before any command runs, what fails unexpectedly,
 * and a conditional request (If-Match, If-None-Match) whose condition does not hold.
 */
export type HttpErrorCode = KvErrorCode | 'TIMEOUT' | 'INTERNAL' | 'PRECONDITION_FAILED';

/** The documented error body: `{ "error": { "code", "message" } }`. */
export interface HttpErrorBody {
  readonly error: { readonly code: HttpErrorCode; readonly message: string };
}

export const STATUS_OF: Record<KvErrorCode, number> = {
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

/** The stable code of an error status the framework or Node's HTTP parser chose. */
export function codeOfStatus(status: number): HttpErrorCode {
  if (status === 404) return 'NOT_FOUND';
  if (status === 408) return 'TIMEOUT';
  if (status === 412) return 'PRECONDITION_FAILED';
  if (status === 413 || status === 414 || status === 431) return 'TOO_LARGE';
  return status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
}

export function errorBody(code: HttpErrorCode, message: string): HttpErrorBody {
  return { error: { code, message } };
}

/**
 * Answers on a raw socket whose request Node's HTTP parser refused (no request object exists: a
 * request line and headers over the limit, a malformed request, a request timeout), then closes it.
 */
export function refuseClientError(socket: Socket, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(codeOfStatus(status), message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
