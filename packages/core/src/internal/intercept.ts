import type { WorkerInterceptor } from '../worker.js';

type Intercept = (interceptor: WorkerInterceptor) => () => void;

// Not part of the package's API (index.ts does not export it, and `./internal/*` is closed): lets
// tests observe a bus's deliveries the way the batch engine does, without a member on `Thrun`.
const intercepts = new WeakMap<object, Intercept>();

/** Called once by `createThrun` for each bus it makes. */
export function exposeIntercept(thrun: object, intercept: Intercept): void {
  intercepts.set(thrun, intercept);
}

/**
 * Observes a bus's deliveries before their handlers run and before they settle (the hooks the batch
 * engine uses); returns a remover.
 */
export function interceptDeliveries(thrun: object, interceptor: WorkerInterceptor): () => void {
  const intercept = intercepts.get(thrun);
  if (!intercept) throw new Error('[thrun:core] not a bus made by createThrun');
  return intercept(interceptor);
}
