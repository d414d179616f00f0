import { Injectable } from '@nestjs/common';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { AccessControl, BAD_CREDENTIALS, type CommandPort, isKvError, KvError, type Need, type Principal } from '#commands';
import { ProtocolCommands } from '../protocol-commands.js';
import { errorBody } from './error-body.js';

/** Sent with every 401: the schemes a client may answer with. */
export const WWW_AUTHENTICATE = 'Basic realm="merklekv", charset="UTF-8", Bearer realm="merklekv"';

const principals = new WeakMap<FastifyRequest['raw'], Principal>();

/**
 * HTTP routes that act outside the command layer, and what they need. Key routes are checked by
 * the command layer itself; probes and metrics (which show no key, value or secret) are open.
 */
const ROUTE_NEEDS: ReadonlyMap<string, Need> = new Map<string, Need>([
  ['GET /v1/cluster', { kind: 'signedIn' }],
  ['POST /v1/cluster/anti-entropy', { kind: 'admin' }],
  // A backup holds every key and value of the node.
  ['GET /v1/admin/backup', { kind: 'admin' }],
  ['GET /v1/dashboard/events', { kind: 'signedIn' }],
]);

/**
 * Signs each HTTP request in from its `Authorization` header (`Basic` user:password, or `Bearer`
 * token) before any route runs; bad credentials are a 401 at once. A request without the header
 * goes on anonymous: probes and metrics answer it, commands refuse it (401) through the guard.
 */
export function installHttpAuthentication(fastify: FastifyInstance, access: AccessControl): void {
  if (!access.enabled) return;
  fastify.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;
    try {
      const principal = header === undefined ? undefined : await signIn(access, header, request.ip);
      if (principal) principals.set(request.raw, principal);
      const need = ROUTE_NEEDS.get(route);
      if (need) access.check(principal, route, need);
    } catch (err) {
      if (!isKvError(err)) throw err;
      const status = err.code === 'FORBIDDEN' ? 403 : 401;
      if (status === 401) void reply.header('www-authenticate', WWW_AUTHENTICATE);
      await reply.status(status).header('content-type', 'application/json').send(errorBody(err.code, err.message));
    }
  });
}

/** Basic sign-ins are limited per client address, with the TCP protocols' (see AccessControl.signIn). */
async function signIn(access: AccessControl, header: string, source: string): Promise<Principal> {
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const credentials = header.slice(space + 1).trim();
  if (space > 0 && scheme === 'bearer') return access.signInWithToken(credentials);
  if (space > 0 && scheme === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return access.signIn(decoded.slice(0, colon), decoded.slice(colon + 1), source);
  }
  throw new KvError('UNAUTHENTICATED', BAD_CREDENTIALS);
}

/** The command port as one HTTP request may use it: as the user its credentials named. */
@Injectable()
export class HttpCommands {
  private readonly port: CommandPort;

  constructor(
    commands: ProtocolCommands,
    private readonly access: AccessControl,
  ) {
    this.port = commands.for('http');
  }

  of(request: FastifyRequest): CommandPort {
    return this.access.guard(this.port, principals.get(request.raw));
  }
}
