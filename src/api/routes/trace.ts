import { Router } from 'express';
import type { Config } from '../../config';
import type { Db } from '../../db/client';
import { RunIdParams } from '../../schemas/runs';
import { DriftQuery, DriftReportView, PutReleasePolicyRequest, ReleasePolicyResponse, RunTrace } from '../../schemas/trace';
import { driftReport } from '../../trace/drift';
import { currentReleasePolicy, missingPromptVariants, releaseHistory, setReleasePolicy } from '../../trace/release';
import { runTrace } from '../../trace/trace';
import { requireAuth } from '../auth';
import { defineRoute } from '../define-route';
import { problems } from '../problem';
import { traceExamples } from './trace-examples';

/** Traceability: a run's lineage, and the tenant's release (canary) policy. */
export function traceRouter(deps: { db: Db; config: Config }): Router {
  const { db } = deps;
  const router = Router();

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/runs/:id/trace', tags: ['runs'], scope: 'runs:read',
      summary: "A run's lineage",
      description:
        'Everything that shaped the output: API and worker builds, model configurations, prompt versions, release arm, corpus and guardrail policy versions; each step with every attempt (timings, tokens, cost, the versions it used); the retrieved chunks with their document versions; best-of-n candidates and judge scores; operator actions; and a Web UI link per Temporal execution.',
      params: RunIdParams,
      responses: { 200: { description: 'The trace.', schema: RunTrace, example: traceExamples.trace } },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      res.locals.runId = params.id;
      const trace = await runTrace(deps, tenantId, params.id);
      if (!trace) throw problems.notFound(`Run ${params.id}`);
      res.json(trace);
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/release-policy', tags: ['admin'], scope: 'admin',
      summary: "Your tenant's release policy",
      description: 'The current canary policy (null when none was ever set) and its last 100 versions, newest first.',
      responses: { 200: { description: 'The policy and its history.', schema: ReleasePolicyResponse, example: traceExamples.policy } },
    },
    async (req, res) => {
      const { tenantId } = requireAuth(req);
      res.json({ current: await currentReleasePolicy(db, tenantId), history: await releaseHistory(db, tenantId) });
    },
  );

  defineRoute(
    router,
    {
      method: 'put', path: '/v1/release-policy', tags: ['admin'], scope: 'admin',
      summary: 'Change the release policy',
      description:
        'Sends `percent` % of new runs (chosen by a hash of the run id) to the candidate model and/or prompt variants (`prompts/<id>@<variant>.md`). Each change is a new version recording who and why; roll back with `percent: 0`. A candidate naming a prompt variant that has no file is a 422.',
      body: PutReleasePolicyRequest,
      // A model candidate: an example naming a prompt variant is valid only where its file exists.
      bodyExample: { candidate: { model: 'gpt-4o' }, percent: 20, reason: 'try gpt-4o on a fifth of traffic' },
      responses: { 200: { description: 'The new current policy and its history.', schema: ReleasePolicyResponse, example: traceExamples.policy } },
      problems: [{ status: 422, description: 'A candidate names a prompt variant that has no file in `KEEL_PROMPTS_DIR` (`unprocessable-content`).' }],
    },
    async (req, res, { body }) => {
      const auth = requireAuth(req);
      const missing = missingPromptVariants(body.candidate, deps.config.KEEL_PROMPTS_DIR);
      if (missing.length > 0) {
        throw problems.unprocessable(missing.map((m) => ({ path: `candidate.prompts.${m.split('@')[0]}`, message: `no prompt file ${m}.md` })), 'body');
      }
      const current = await setReleasePolicy(db, auth.tenantId, { ...body, actor: `key:${auth.keyId}` });
      res.json({ current, history: await releaseHistory(db, auth.tenantId) });
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/metrics/drift', tags: ['runs'], scope: 'runs:read',
      summary: 'Drift of your runs by version and day',
      description:
        "Per version (model configuration + prompt versions, from the ledger) and UTC day: attempts, mean latency, cost per attempt and failure rate of the model steps; `drifting` lists the metrics whose newest day is beyond `KEEL_DRIFT_SIGMA` standard deviations of the version's trailing `KEEL_DRIFT_WINDOW_DAYS` days. `runs` has the tenant's run failure and block rates per day.",
      query: DriftQuery,
      responses: { 200: { description: 'The drift report.', schema: DriftReportView, example: traceExamples.drift } },
    },
    async (req, res, { query }) => {
      const { tenantId } = requireAuth(req);
      res.json(await driftReport(db, { days: query.days, windowDays: deps.config.KEEL_DRIFT_WINDOW_DAYS, sigma: deps.config.KEEL_DRIFT_SIGMA }, tenantId));
    },
  );

  return router;
}
