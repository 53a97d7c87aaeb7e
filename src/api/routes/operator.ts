import { Router, type Request } from 'express';
import { z } from 'zod';
import type { RunOperator, RunService } from '../../runs';
import { AuditEventView, OperatorActionResponse, OptionalReasonRequest, ResumeRequestBody, TerminateRequest } from '../../schemas/operator';
import { RunIdParams } from '../../schemas/runs';
import { requireAuth } from '../auth';
import { runOperationLinks } from '../links';
import { defineRoute } from '../define-route';

const AuditList = z.object({ data: z.array(AuditEventView) });

const actionExample = {
  id: '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80',
  workflowRunId: '5b1f0c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
  auditEventId: '8d1c2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  links: { self: '/v1/runs/0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80', temporalUi: 'http://localhost:8233/namespaces/default/workflows/0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80' },
};

const operatorOf = (req: Request): RunOperator => {
  const { tenantId, keyId } = requireAuth(req);
  return { tenantId, keyId };
};

/**
 * Operator actions on runs: cancel, terminate, retry (reset to the failed step), resume (a run
 * paused on failure) and the audit trail. Each is one call into the run service (src/runs), which
 * acts through Temporal with the key's identity and reason and records the action from Temporal's
 * history, exactly as it records the same action made in the Web UI or the CLI. Every route here
 * needs the `operator` scope.
 */
export function operatorRouter(runs: RunService): Router {
  const router = Router();

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/cancel', tags: ['operator'], scope: 'operator',
      summary: 'Cancel a run',
      description: 'Graceful: the workflow records `cancelled` after its cleanup and the in-flight model call is aborted. `409 run-not-active` for a finished run.',
      params: RunIdParams, body: OptionalReasonRequest, bodyExample: { reason: 'wrong question' },
      responses: { 202: { description: 'Cancellation requested.', schema: OperatorActionResponse, example: { ...actionExample, action: 'cancel', status: 'running' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      // Cancellation is cooperative: the workflow records `cancelled` once its cleanup has run.
      res.status(202).json(await runs.cancel(operatorOf(req), params.id, body.reason));
    },
  );

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/terminate', tags: ['operator'], scope: 'operator',
      summary: 'Terminate a run',
      description: 'Hard stop: no workflow code runs after it; the run is `terminated`. The reason is required.',
      params: RunIdParams, body: TerminateRequest, bodyExample: { reason: 'runaway run' },
      responses: { 200: { description: 'The run is terminated.', schema: OperatorActionResponse, example: { ...actionExample, action: 'terminate', status: 'terminated' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      res.json(await runs.terminate(operatorOf(req), params.id, body.reason));
    },
  );

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/retry', tags: ['operator'], scope: 'operator',
      summary: 'Retry a failed run',
      description: 'For a `failed` or `timed_out` run: resets the workflow to just before the failed step, so earlier steps are neither run nor billed again. The run keeps its id; `workflowRunId` is the new execution.',
      params: RunIdParams, body: OptionalReasonRequest, bodyExample: { reason: 'provider outage is over' },
      responses: { 200: { description: 'The run is running again.', schema: OperatorActionResponse, example: { ...actionExample, action: 'retry', status: 'running' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      res.json(await runs.retry(operatorOf(req), params.id, body.reason));
    },
  );

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/resume', tags: ['operator'], scope: 'operator',
      summary: 'Resume a paused run',
      description: 'For a run in `needs_attention`: `retry` the step, `skip` it (optional steps only) or `abort` the run.',
      params: RunIdParams, body: ResumeRequestBody, bodyExample: { action: 'retry', reason: 'quota raised' },
      responses: { 200: { description: 'The run goes on (or, for `abort`, has failed).', schema: OperatorActionResponse, example: { ...actionExample, action: 'resume', status: 'running' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      res.json(await runs.resume(operatorOf(req), params.id, body));
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/runs/:id/audit', tags: ['operator'], scope: 'operator',
      summary: "A run's operator actions",
      description: 'Who did what, why and when, oldest first, from the append-only audit trail.',
      params: RunIdParams,
      responses: {
        200: {
          description: 'The audit trail.',
          schema: AuditList,
          example: { data: [{ id: '8d1c2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f', action: 'cancel', actor: 'key:6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', reason: 'wrong question', details: {}, createdAt: '2026-01-05T10:01:00.000Z' }] },
        },
      },
    },
    async (req, res, { params }) => {
      res.json({ data: await runs.audit(operatorOf(req), params.id) });
    },
  );

  return router;
}
