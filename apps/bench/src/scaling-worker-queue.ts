/** The Redis queue the scaling suite's worker processes consume. */
export const WORKERS_QUEUE = 'workers';
