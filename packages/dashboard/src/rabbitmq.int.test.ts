// On RabbitMQ, AMQP gives waiting, dead and consumers; in flight and delayed stay unknown.
import { describeBrokerApi } from './test-support/broker-api.js';
import { rabbitmqScenario } from './test-support/fixture.js';

describeBrokerApi('RabbitMQ', () => rabbitmqScenario());
