// Exits 0 once the broker at host:port answers a Metadata request listing at least <min brokers> brokers
// (argv[3], default 1) and an elected controller, 1 otherwise.
// Metadata v4 (Kafka 4 removed v0-v3), written by hand so that the probe needs nothing installed.
import { connect } from 'node:net';

const [host = '127.0.0.1', port = '9192'] = (process.argv[2] ?? '').split(':');
const minBrokers = Number(process.argv[3] ?? 1);
const clientId = Buffer.from('thrun-probe');
const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4 + 1);
let offset = 0;
offset = body.writeInt16BE(3, offset); // api_key: Metadata
offset = body.writeInt16BE(4, offset); // api_version
offset = body.writeInt32BE(1, offset); // correlation_id
offset = body.writeInt16BE(clientId.length, offset);
offset += clientId.copy(body, offset);
offset = body.writeInt32BE(-1, offset); // topics: null, i.e. all
body.writeInt8(0, offset); // allow_auto_topic_creation: false
const frame = Buffer.concat([Buffer.alloc(4), body]);
frame.writeInt32BE(body.length, 0);

const socket = connect({ host, port: Number(port) });
const timer = setTimeout(() => finish(false), 2000);
let received = Buffer.alloc(0);
function finish(ok) {
  clearTimeout(timer);
  socket.destroy();
  process.exit(ok ? 0 : 1);
}
socket.on('connect', () => socket.write(frame));
socket.on('error', () => finish(false));
socket.on('close', () => finish(false));
socket.on('data', (chunk) => {
  received = Buffer.concat([received, chunk]);
  if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
  // size, correlation_id, throttle_time_ms, brokers [node_id, host, port, rack], cluster_id, controller_id
  try {
    let at = 12;
    const brokers = received.readInt32BE(at);
    at += 4;
    const skipString = () => {
      const length = received.readInt16BE(at);
      at += 2 + Math.max(length, 0);
    };
    for (let i = 0; i < brokers; i += 1) {
      at += 4; // node_id
      skipString(); // host
      at += 4; // port
      skipString(); // rack
    }
    skipString(); // cluster_id
    const controllerId = received.readInt32BE(at);
    // Ready: the brokers are registered and a controller is elected (topics can be created).
    finish(received.readInt32BE(4) === 1 && brokers >= minBrokers && controllerId >= 0);
  } catch {
    finish(false);
  }
});
