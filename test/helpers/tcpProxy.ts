/**
 * A loopback TCP proxy we can cut and restore: makes "MongoDB unreachable"
 * for one relay without stopping the server other test files use.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted since start: what a client behind the proxy opened. */
  readonly accepted: number;
  /** Client connections open now. */
  readonly open: number;
  /** Refuse new connections and drop the open ones. */
  cut(): Promise<void>;
  /**
   * Keep every connection open but pass nothing either way, and accept new
   * ones without forwarding them: a server that hangs. Requests in flight
   * never get an answer (until close()).
   */
  stall(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let server: Server | undefined;
  let port = 0;
  let stalled = false;
  let accepted = 0;
  const clients = new Set<Socket>();
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        accepted += 1;
        clients.add(client);
        client.once('close', () => clients.delete(client));
        if (stalled) {
          client.pause();
          sockets.add(client);
          client.on('error', () => client.destroy()).on('close', () => sockets.delete(client));
          return;
        }
        const upstream = connect(targetPort, targetHost);
        pairs.add([client, upstream]);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
          for (const pair of pairs) if (pair[0] === client) pairs.delete(pair);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return clients.size;
    },
    cut: stop,
    stall() {
      stalled = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    restore: listen,
    close: stop,
  };
}
