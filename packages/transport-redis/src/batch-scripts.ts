/**
 * The batch store's transitions, one Lua script each, so every transition is atomic and costs one round
 * trip: the `batch-*` files of `protocol/redis/` (`includes/batch-lib.lua` documents the keys they share).
 */
import { loadScript } from './scripts.js';

export const batchCreateScript = loadScript('batch-create');
export const batchRecordStepScript = loadScript('batch-record-step');
export const batchCancelScript = loadScript('batch-cancel');
export const batchGetScript = loadScript('batch-get');
export const batchMarkEmittedScript = loadScript('batch-mark-emitted');
export const batchReleaseScript = loadScript('batch-release');
export const batchSweepScript = loadScript('batch-sweep');
export const batchStepStartScript = loadScript('batch-step-start');
export const batchStepRenewScript = loadScript('batch-step-renew');
