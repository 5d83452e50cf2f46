export { type KafkaTransportOptions, kafkaTransport } from './kafka-transport.js';
