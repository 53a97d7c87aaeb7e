import { Router, type Request } from 'express';
import type { RunService } from '../../runs';
import { CachedRunResponse, CreateRunRequest, CreateRunResponse, ListRunsQuery, RunIdParams, RunList, RunView } from '../../schemas/runs';
import { requireAuth } from '../auth';
import { runOperationLinks } from '../links';
import { CreateRunHeaders, readIdempotencyKey } from '../idempotency';
import { defineRoute } from '../define-route';
import { runExamples } from './runs-examples';
import { parseCacheControl } from '../../cache';
import { z } from 'zod';

/**
 * A request this router answers by starting a run (`POST /v1/runs`, under the `/v1` mount): its
 * authentication also reads what `runs.create` needs about the tenant, in the key's statement.
 */
export const startsRun = (req: Request): boolean => req.method === 'POST' && req.path === '/runs';

export function runsRouter(runs: RunService): Router {
  const router = Router();

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs', tags: ['runs'], scope: 'runs:write',
      summary: 'Start a run',
      description: "Validates the request and starts a Temporal workflow whose id is the run id. Answered `202` at once; poll `links.self`. A tenant with `KEEL_MAX_INFLIGHT_RUNS_PER_TENANT` runs queued or running gets `429 concurrency-limit`.",
      headers: CreateRunHeaders.extend({
        'Cache-Control': z.string().optional().meta({
          description: '`no-cache`: answer fresh, without looking in the cache; `no-store`: do not cache this result. Answer runs only.',
          example: 'no-cache',
        }),
      }),
      body: CreateRunRequest, bodyExample: runExamples.create,
      responses: {
        201: {
          description: 'An answer run the exact cache answered: the run was recorded already `completed` (`cached: true`), with the result, its age and the run that computed it. No workflow was started. Requests with an `Idempotency-Key` always start a run (its own cache step may still hit).',
          schema: CachedRunResponse, example: runExamples.cached, headers: { Location: 'The run URL.' }, links: runOperationLinks('/id'),
        },
        202: { description: 'The run is queued.', schema: CreateRunResponse, example: runExamples.created, headers: { Location: 'The run URL.' }, links: runOperationLinks('/id') },
        200: { description: 'An earlier request with this `Idempotency-Key` and body made this run; nothing new was started.', schema: CreateRunResponse, example: runExamples.created, headers: { Location: 'The run URL.' }, links: runOperationLinks('/id') },
      },
      problems: [
        { status: 404, description: "`input.documentId` names no document of your tenant (`not-found`)." },
        { status: 409, description: 'The `Idempotency-Key` was used with another body (`idempotency-key-reused`), or `input.documentId` is not `ready` yet (`document-not-ready`).' },
        { status: 422, description: 'The body has the documented shape but cannot run (`unprocessable-content`, `errors` names the field): `input.schema` is not a JSON Schema Ajv can compile, `input.schemaName` names no registered schema, or `options.n`/`options.rounds` is over this deployment\'s `KEEL_MAX_CANDIDATES`/`KEEL_MAX_REFINE_ROUNDS`.' },
      ],
    },
    async (req, res, { body }) => {
      const result = await runs.create(requireAuth(req), body, readIdempotencyKey(req), parseCacheControl(req.get('cache-control')));
      res.locals.runId = result.run.id;
      res.status(result.cached ? 201 : result.created ? 202 : 200).location(result.run.links.self).json(result.run);
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/runs/:id', tags: ['runs'], scope: 'runs:read',
      summary: 'Get a run',
      description: "Status, timestamps, result or error, and the ledger: each step with every attempt. Another tenant's run is a 404.",
      params: RunIdParams,
      responses: { 200: { description: 'The run.', schema: RunView, example: runExamples.view } },
    },
    async (req, res, { params }) => {
      res.locals.runId = params.id;
      res.json(await runs.get(requireAuth(req), params.id));
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/runs', tags: ['runs'], scope: 'runs:read',
      summary: "List the tenant's runs",
      description: 'Newest first, with filters; pass `nextCursor` back as `cursor` for the next page.',
      query: ListRunsQuery,
      responses: { 200: { description: 'A page of runs.', schema: RunList, example: runExamples.list } },
    },
    async (req, res, { query }) => {
      const { tenantId } = requireAuth(req);
      res.json(await runs.list(tenantId, query));
    },
  );

  return router;
}
