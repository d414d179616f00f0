import { type Socket } from 'node:net';
import { type FastifyInstance } from 'fastify';
import { DEFAULT_SESSION_LIMITS } from '#protocol';

/** The end of the latest request started on each connection. */
const latest = new WeakMap<Socket, Promise<void>>();

/**
 * Bounds what one HTTP connection makes the node hold, as the text protocol's session does. Node
 * dispatches every request of a pipelined chunk at once, and each response waits in memory for
 * its turn on the socket: 64 KiB of pipelined `GET`s of a 1 MB value used to become gigabytes.
 * Here a connection's request starts only once the one before it has finished and the client
 * has taken all but `maxUnsentBytes` of the responses, so the node holds one response and the
 * unsent budget per connection. (HTTP/1.1 answers in order anyway; only pipelined requests wait.)
 */
export function boundPipelinedRequests(fastify: FastifyInstance, maxUnsentBytes = DEFAULT_SESSION_LIMITS.maxUnsentBytes): void {
  fastify.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket;
    const before = latest.get(socket);
    latest.set(socket, new Promise<void>((resolve) => reply.raw.once('close', resolve)));
    if (before === undefined) return;
    await before;
    if (socket.writableLength > maxUnsentBytes) await writableOrClosed(socket);
  });
}

function writableOrClosed(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
