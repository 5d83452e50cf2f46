import { randomUUID } from 'node:crypto';
import type { ReplayProgress, ReplayReport } from '@thrun/core';

/** A replay the page started and follows: it runs on the server, the page polls its progress. */
export interface ReplayJob {
  id: string;
  queue: string;
  state: 'running' | 'done' | 'failed';
  progress: Pick<ReplayProgress, 'seen' | 'replayed' | 'kept' | 'total'>;
  error?: string;
}

/** Keeps the last few replays, so a page that reloads can still read how one ended. */
export class ReplayJobs {
  private readonly jobs = new Map<string, ReplayJob>();

  constructor(private readonly keep = 20) {}

  start(
    queue: string,
    run: (onProgress: (progress: ReplayProgress) => void) => Promise<ReplayReport>,
    describeError: (error: unknown) => string,
  ): ReplayJob {
    const job: ReplayJob = {
      id: randomUUID(),
      queue,
      state: 'running',
      progress: { seen: 0, replayed: 0, kept: 0, total: undefined },
    };
    this.jobs.set(job.id, job);
    for (const id of this.jobs.keys()) {
      if (this.jobs.size <= this.keep) break;
      if (this.jobs.get(id)?.state !== 'running') this.jobs.delete(id);
    }
    run(({ seen, replayed, kept, total }) => {
      job.progress = { seen, replayed, kept, total };
    }).then(
      (report) => {
        job.progress = { ...job.progress, ...report, seen: report.replayed + report.kept };
        job.state = 'done';
      },
      (error: unknown) => {
        job.state = 'failed';
        job.error = describeError(error);
      },
    );
    return job;
  }

  get(id: string): ReplayJob | undefined {
    return this.jobs.get(id);
  }
}
