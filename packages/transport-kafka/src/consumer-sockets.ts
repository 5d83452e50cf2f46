import { isIP, Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

/** As kafkajs' own factory. */
const KEEP_ALIVE_DELAY_MS = 60_000;

/**
 * The sockets of one kafkajs consumer, so that `close` can cut them when leaving the group outlasts
 * its deadline: during a rebalance kafkajs' stop waits for JoinGroup, which the broker holds until
 * every member rejoined or was dropped (a member that died without leaving is dropped only when its
 * session ends), and kafkajs has no way to abort it. Once cut, every new socket fails at once, so
 * kafkajs' reconnection attempts end its stop instead of retrying.
 */
export class ConsumerSockets {
  private readonly open = new Set<Socket>();
  private cut = false;

  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    if (this.cut) {
      const socket = new Socket();
      socket.destroy(closedError()); // emitted on the next tick, once kafkajs listens
      return socket;
    }
    const socket = ssl
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
      : tcpConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    return socket;
  };

  cutAll(): void {
    this.cut = true;
    // With an error: kafkajs fails a connection's pending requests on 'error' (or 'end'), not on 'close'.
    for (const socket of this.open) socket.destroy(closedError());
    this.open.clear();
  }
}

const closedError = () => new Error('the consumer was closed');
