export type { DashboardOptions } from './app.js';
export { createDashboard, type Dashboard, type FastifyLike } from './dashboard.js';
export { CONTENT_SECURITY_POLICY, CSRF_HEADER, type DashboardAuth } from './security.js';
export { type ServeOptions, serveDashboard } from './serve.js';
