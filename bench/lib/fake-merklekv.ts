/**
 * A tiny in-process server speaking the GET/SET subset of the MerkleKV text protocol, for the
 * load generator's own tests. With `fragment` on, every reply leaves in pieces of 1 to 7
 * bytes on separate ticks, so the client sees replies split at arbitrary points.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface FakeMerkleKv extends AsyncDisposable {
  readonly port: number;
  readonly store: Map<string, string>;
  /** Requests served so far. */
  readonly served: () => number;
  close(): Promise<void>;
}

export async function startFakeMerkleKv(options: { fragment?: boolean } = {}): Promise<FakeMerkleKv> {
  const store = new Map<string, string>();
  const sockets = new Set<Socket>();
  let served = 0;
  let seed = 12345;
  const nextPieceLength = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return 1 + (seed % 7);
  };
  const answer = (line: string): string => {
    const space = line.indexOf(' ');
    const word = (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const rest = space === -1 ? '' : line.slice(space + 1);
    if (word === 'GET') {
      const value = store.get(rest);
      return value === undefined ? 'NOT_FOUND' : `VALUE ${value}`;
    }
    if (word === 'SET') {
      const sep = rest.indexOf(' ');
      if (sep === -1) return 'ERROR SET command requires a key and value';
      store.set(rest.slice(0, sep), rest.slice(sep + 1));
      return 'OK';
    }
    return `ERROR Unknown command: ${word}`;
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    // Without Nagle the pieces really leave as separate segments.
    if (options.fragment === true) socket.setNoDelay(true);
    let buffered = '';
    const queue: Buffer[] = [];
    let pumping = false;
    const pump = (): void => {
      const piece = queue.shift();
      pumping = piece !== undefined && !socket.destroyed;
      if (!pumping || piece === undefined) return;
      socket.write(piece);
      setImmediate(pump);
    };
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let out = '';
      let nl = buffered.indexOf('\n');
      while (nl !== -1) {
        out += `${answer(buffered.slice(0, nl).trim())}\r\n`;
        served += 1;
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
      if (out.length === 0) return;
      if (options.fragment !== true) {
        socket.write(out);
        return;
      }
      // One queue per socket: pieces of consecutive replies never interleave.
      const bytes = Buffer.from(out);
      for (let pos = 0; pos < bytes.length; ) {
        const n = nextPieceLength();
        queue.push(bytes.subarray(pos, pos + n));
        pos += n;
      }
      if (!pumping) pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port: address.port, store, served: () => served, close, [Symbol.asyncDispose]: close };
}
