/**
 * `@thrun/core/testing`: suites that a transport's own tests run against a real broker, through
 * `createThrun`. Needs vitest (an optional peer dependency).
 */
export { describePoisonMessages, type PoisonMessageFixture } from './describe-poison-messages.js';
