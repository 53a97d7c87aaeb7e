import { Router } from 'express';
import type { Db } from '../../db/client';
import { createEvaluation, getEvaluation, listEvaluations } from '../../evals/store';
import { CreateEvaluationRequest, EvalIdParams, EvaluationList, EvaluationView } from '../../schemas/evals';
import { requireAuth } from '../auth';
import { defineRoute } from '../define-route';
import { problems } from '../problem';

const example = {
  id: '2f6d1c3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  name: 'handbook golden set',
  dataset: 'evals/golden/handbook.jsonl',
  datasetHash: 'a3f1c0d2e4b5a6978812345678901234567890abcdef1234567890abcdef1234',
  versions: { apiBuilds: ['7d9d1bf0a1b2'], workerBuilds: ['7d9d1bf0a1b2'], modelConfigs: ['gpt-4o-mini@1a2b3c4d'], prompts: ['answer:3f9a1c0d2e4b5a69'], corpusVersions: [2], releaseArms: ['stable'] },
  metrics: { cases: 8, passRate: 0.875, scores: { contains: 0.9375, grounded: 1 }, latencyMsP50: 640, costUsd: 0.0012 },
  createdAt: '2026-01-05T10:00:00.000Z',
};
const caseExample = { caseId: 'meal-allowance', runId: '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80', status: 'completed', passed: true, scores: { contains: 1, grounded: 1 }, latencyMs: 640, costUsd: 0.00015 };

/** Evaluations: results of golden datasets run through the pipeline (`npm run eval` posts them). */
export function evalsRouter(deps: { db: Db }): Router {
  const { db } = deps;
  const router = Router();
  defineRoute(
    router,
    {
      method: 'post', path: '/v1/evals', tags: ['evals'], scope: 'runs:write',
      summary: 'Store an evaluation',
      description: "Per-case results of a golden dataset run (what `npm run eval` sends). The metrics are computed here, and the version set is read from the cases' runs and their ledger, so it says what really ran.",
      body: CreateEvaluationRequest,
      bodyExample: { name: example.name, dataset: example.dataset, datasetHash: example.datasetHash, cases: [caseExample] },
      responses: {
        201: {
          description: 'The stored evaluation.', schema: EvaluationView, example: { ...example, cases: [caseExample] },
          links: { GetEvaluation: { method: 'get', path: '/v1/evals/:id', parameters: { id: '$response.body#/id' } } },
        },
      },
      problems: [{ status: 422, description: 'Two cases share a `caseId` (`unprocessable-content`).' }],
    },
    async (req, res, { body }) => {
      const { tenantId } = requireAuth(req);
      // Unique by a key inside each item: more than JSON Schema's `uniqueItems` can say.
      const seen = new Set<string>();
      const repeated = body.cases.flatMap((c, i) => (seen.size === seen.add(c.caseId).size ? [{ path: `cases.${i}.caseId`, message: `repeats "${c.caseId}"` }] : []));
      if (repeated.length > 0) throw problems.unprocessable(repeated, 'body');
      res.status(201).json(await createEvaluation(db, tenantId, body));
    },
  );
  defineRoute(
    router,
    {
      method: 'get', path: '/v1/evals', tags: ['evals'], scope: 'runs:read',
      summary: "Your tenant's evaluations",
      description: 'The 100 newest, with metrics and version sets; compare two with `npm run eval:compare -- <a> <b>`.',
      responses: { 200: { description: 'Evaluations, newest first.', schema: EvaluationList, example: { data: [example] } } },
    },
    async (req, res) => {
      const { tenantId } = requireAuth(req);
      res.json({ data: await listEvaluations(db, tenantId) });
    },
  );
  defineRoute(
    router,
    {
      method: 'get', path: '/v1/evals/:id', tags: ['evals'], scope: 'runs:read',
      summary: 'An evaluation with its cases',
      params: EvalIdParams,
      responses: { 200: { description: 'The evaluation.', schema: EvaluationView, example: { ...example, cases: [caseExample] } } },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const evaluation = await getEvaluation(db, tenantId, params.id);
      if (!evaluation) throw problems.notFound(`Evaluation ${params.id}`);
      res.json(evaluation);
    },
  );
  return router;
}
