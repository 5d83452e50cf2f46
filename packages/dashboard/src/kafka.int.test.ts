// On Kafka, waiting is the group's lag (per partition too); a group join takes seconds.
import { describeBrokerApi } from './test-support/broker-api.js';
import { kafkaScenario } from './test-support/fixture.js';

describeBrokerApi('Kafka', () => kafkaScenario(), 90_000);
