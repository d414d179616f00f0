import { createServer, type Server, type Socket } from 'node:net';
import { TextClient } from './text-client.js';

/** An in-process server that hands each accepted socket to the test. */
async function withServer(onSocket: (socket: Socket) => void, body: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  try {
    await body(address.port);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('TextClient', () => {
  it('reads an INFO block up to its db_keys line as a map, values with colons kept whole', async () => {
    await withServer(
      (socket) => {
        socket.once('data', (line) => {
          expect(line.toString()).toBe('INFO\r\n');
          socket.write('INFO\r\nversion:1.2.3\r\nanti_entropy_peer_b:at=2026-12-07T12:00:00.000Z,result=ok\r\ndb_keys:7\r\nPONG\r\n');
        });
      },
      async (port) => {
        await using client = await TextClient.connect(port);
        const info = await client.info();
        expect([...info]).toEqual([
          ['version', '1.2.3'],
          ['anti_entropy_peer_b', 'at=2026-12-07T12:00:00.000Z,result=ok'],
          ['db_keys', '7'],
        ]);
        expect(await client.readLine()).toBe('PONG');
      },
    );
  });

  it('reassembles lines from any chunking, with CRLF or LF, without mangling UTF-8', async () => {
    const reply = Buffer.from('VALUE héllo 🙂\r\nOK\nEND\r\n', 'utf8');
    await withServer(
      (socket) => {
        // One byte per write: every character, CR and LF arrives on its own.
        socket.once('data', () => {
          for (let i = 0; i < reply.length; i += 1) socket.write(reply.subarray(i, i + 1));
        });
      },
      async (port) => {
        await using client = await TextClient.connect(port);
        client.send('GO');
        expect(await client.readUntil('END')).toEqual(['VALUE héllo 🙂', 'OK', 'END']);
      },
    );
  });

  it('answers requests in order, queues early lines, and reports a timeout with the partial line', async () => {
    await withServer(
      (socket) => {
        let buffered = '';
        socket.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          let nl = buffered.indexOf('\n');
          while (nl !== -1) {
            const line = buffered.slice(0, nl).replace(/\r$/, '');
            buffered = buffered.slice(nl + 1);
            socket.write(line === 'HALF' ? 'no newline' : `ECHO ${line}\r\n`);
            nl = buffered.indexOf('\n');
          }
        });
      },
      async (port) => {
        await using client = await TextClient.connect(port);
        expect(await client.request('one')).toBe('ECHO one');
        client.write('two\nthree\r\n');
        expect(await client.readLines(2)).toEqual(['ECHO two', 'ECHO three']);
        client.send('HALF');
        await expect(client.readLine(100)).rejects.toMatchObject({ code: 'READ_TIMEOUT', message: expect.stringContaining('no newline') });
      },
    );
  });

  it('rejects pending reads when the peer closes, and resolves `closed`', async () => {
    await withServer(
      (socket) => socket.once('data', () => socket.end('BYE\r\n')),
      async (port) => {
        const client = await TextClient.connect(port);
        client.send('QUIT');
        await client.closed;
        expect(client.isClosed).toBe(true);
        expect(await client.readLine()).toBe('BYE');
        await expect(client.readLine()).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
        expect(() => client.send('x')).toThrow(/closed/);
      },
    );
  });

  it('fails to connect with a clear error', async () => {
    let port = 0;
    await withServer(
      () => undefined,
      async (p) => {
        port = p;
      },
    );
    await expect(TextClient.connect(port)).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
  });
});
