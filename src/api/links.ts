import type { Config } from '../config';
import type { HttpMethod, ResponseSpec } from './define-route';

/** Where a run lives: its API resource and its page in the Temporal Web UI. */
export function runLinks(config: Config, id: string): { self: string; temporalUi: string } {
  const path = `/v1/runs/${id}`;
  return {
    self: config.KEEL_PUBLIC_URL ? new URL(path, config.KEEL_PUBLIC_URL).toString() : path,
    temporalUi: `${config.TEMPORAL_UI_URL.replace(/\/$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(id)}`,
  };
}

/**
 * OpenAPI links from a response that names a run (at `pointer`, e.g. `/id`) to every operation
 * on that run, so clients and stateful testers can follow a created run to what can be done to it.
 */
export function runOperationLinks(pointer: string, prefix = ''): NonNullable<ResponseSpec['links']> {
  const parameters = { id: `$response.body#${pointer}` };
  const on = (method: HttpMethod, path: string, description: string) => ({ method, path, parameters, description });
  return {
    [`${prefix}GetRun`]: on('get', '/v1/runs/:id', 'Read the run: status, result, ledger.'),
    [`${prefix}CancelRun`]: on('post', '/v1/runs/:id/cancel', 'Cancel it while it is in progress.'),
    [`${prefix}TerminateRun`]: on('post', '/v1/runs/:id/terminate', 'Stop it at once.'),
    [`${prefix}RetryRun`]: on('post', '/v1/runs/:id/retry', 'Retry it from the failed step once it has failed.'),
    [`${prefix}ResumeRun`]: on('post', '/v1/runs/:id/resume', 'Decide on it while it waits in `needs_attention`.'),
    [`${prefix}RunAudit`]: on('get', '/v1/runs/:id/audit', 'Read what operators did to it.'),
    [`${prefix}RunTrace`]: on('get', '/v1/runs/:id/trace', 'Read its lineage: builds, models, prompts, chunks.'),
  };
}
