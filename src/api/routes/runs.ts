import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { Router } from 'express';
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../../config';
import type { Db } from '../../db/client';
import type { Prisma, Run, RunStep } from '../../generated/prisma/client';
import { CreateRunRequest, CreateRunResponse, ListRunsQuery, RunIdParams, RunList, RunView, type RunSummary } from '../../schemas/runs';
import { SearchAttr, TaskQueue, type RunStatus, type RunType } from '../../shared';
import { AesGcmPayloadCodec } from '../../codec/aes-gcm-codec';
import { demaskForCaller } from '../../guardrails/store';
import type { KeelMetrics } from '../../metrics/metrics';
import { requireAuth } from '../auth';
import { CreateRunHeaders, idempotencyKeyReused, idempotentRunId, readIdempotencyKey } from '../idempotency';
import { runLinks, runOperationLinks } from '../links';
import { problems } from '../problem';
import { defineRoute } from '../define-route';
import { reconcileRun } from '../reconcile';
import { createRunWithinQuota } from '../run-quota';
import { tenantOnFailure } from '../run-policy';
import { planRunVersions } from '../../trace/versions';
import { prepareWorkflow } from './run-workflows';
import type { ObjectStore } from '../../storage';
import { runExamples } from './runs-examples';

export interface RunsDeps {
  db: Db;
  temporal: Client;
  config: Config;
  /** Where an extract run's inline text is kept (claim-check). */
  store: ObjectStore;
  metrics?: KeelMetrics;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Runs exist between years 1 and 9999 (Postgres and Prisma refuse instants before year 1). */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');
const clampInstant = (ms: number) => new Date(Math.min(LATEST, Math.max(EARLIEST, ms)));

interface Cursor {
  createdAt: Date;
  id: string;
}

/**
 * A page position as 24 bytes (the creation time in milliseconds, then the run id's 16 bytes),
 * base64url: 32 characters. Every such string decodes to a position, which is what the
 * document's pattern promises; a time outside the years runs exist in is clamped into them.
 */
function encodeCursor(run: Pick<Run, 'createdAt' | 'id'>): string {
  const bytes = Buffer.alloc(24);
  bytes.writeBigUInt64BE(BigInt(run.createdAt.getTime() - EARLIEST));
  Buffer.from(run.id.replaceAll('-', ''), 'hex').copy(bytes, 8);
  return bytes.toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  const bytes = Buffer.from(cursor, 'base64url');
  const offset = bytes.readBigUInt64BE(0);
  const hex = bytes.subarray(8, 24).toString('hex');
  return {
    createdAt: clampInstant(EARLIEST + Number(offset > BigInt(LATEST - EARLIEST) ? BigInt(LATEST - EARLIEST) : offset)),
    id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
  };
}

export function runsRouter(deps: RunsDeps): Router {
  const { db, temporal, config } = deps;
  // Opens PII vaults, so the caller who started a run reads its answer with the originals back.
  const vaultCodec = config.KEEL_PAYLOAD_KEYS ? new AesGcmPayloadCodec(config.KEEL_PAYLOAD_KEYS) : undefined;
  const router = Router();
  const links = (id: string) => runLinks(config, id);
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const summary = (run: Run): RunSummary => ({
    id: run.id,
    type: run.type as RunType,
    status: run.status as RunStatus,
    model: run.model,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    completedAt: iso(run.completedAt),
    links: links(run.id),
  });
  const view = (run: Run & { steps: RunStep[] }): RunView => {
    const byStep = new Map<string, RunView['steps'][number]>();
    for (const s of run.steps) {
      const entry = byStep.get(s.step) ?? { step: s.step, attempts: [] };
      entry.attempts.push({
        attempt: s.attempt,
        status: s.status,
        startedAt: s.startedAt.toISOString(),
        endedAt: iso(s.endedAt),
        latencyMs: s.latencyMs,
        model: s.model,
        tokensIn: s.tokensIn,
        tokensOut: s.tokensOut,
        costUsd: s.costUsd === null ? null : Number(s.costUsd),
        error: s.error ?? null,
        workflowRunId: s.workflowRunId,
      });
      byStep.set(s.step, entry);
    }
    return {
      ...summary(run),
      input: run.input,
      options: run.options,
      result: run.result ?? null,
      error: run.error ?? null,
      steps: [...byStep.values()],
      // An operator retry resets the workflow into a new execution under the same run id; the
      // ledger's attempts name theirs, and this lists them in the order they first ran.
      executions: [...new Set(run.steps.map((s) => s.workflowRunId))],
    };
  };

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs', tags: ['runs'], scope: 'runs:write',
      summary: 'Start a run',
      description: "Validates the request and starts a Temporal workflow whose id is the run id. Answered `202` at once; poll `links.self`. A tenant with `KEEL_MAX_INFLIGHT_RUNS_PER_TENANT` runs queued or running gets `429 concurrency-limit`.",
      headers: CreateRunHeaders,
      body: CreateRunRequest, bodyExample: runExamples.create,
      responses: {
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
      const { tenantId, keyId } = requireAuth(req);
      const idempotencyKey = readIdempotencyKey(req);
      const id = idempotencyKey ? idempotentRunId(tenantId, idempotencyKey) : uuidv7();
      res.locals.runId = id;
      // The release policy may send this run to a candidate model or prompt variants.
      const planned = await planRunVersions(
        { db, config },
        { tenantId, runId: id, options: { ...body.options, model: body.options.model ?? config.llm.model }, requestedModel: body.options.model !== undefined },
      );
      const { options } = planned;
      const model = options.model;
      const workflow = await prepareWorkflow({ db, config, store: deps.store }, { tenantId, runId: id, body, options });
      // Pausing on failure is an answer-run policy; other run types fail.
      const requestedOnFailure = body.type === 'answer' ? body.onFailure : undefined;
      const onFailure = requestedOnFailure ?? (await tenantOnFailure(db, tenantId));
      const inputHash = createHash('sha256')
        .update(canonicalJson({ type: body.type, input: body.input, options: body.options, ...(requestedOnFailure ? { onFailure } : {}) }))
        .digest('hex');
      // Of concurrent requests with one Idempotency-Key, exactly one inserts the row and goes on
      // to start the workflow; the others answer with that run.
      const inserted = await createRunWithinQuota(db, config.KEEL_MAX_INFLIGHT_RUNS_PER_TENANT, {
        id, tenantId, type: body.type, status: 'queued', input: body.input, inputHash, options, model, idempotencyKey: idempotencyKey ?? null,
        versions: planned.versions as unknown as Prisma.InputJsonObject,
      });
      if (inserted.count === 0) {
        const existing = await db.run.findFirst({ where: { tenantId, idempotencyKey: idempotencyKey ?? null, id } });
        if (!existing) throw problems.unavailable('A request with this Idempotency-Key is being retried; try again shortly.');
        if (existing.inputHash !== inputHash) throw idempotencyKeyReused();
        res.status(200).location(links(id).self).json({ id, status: existing.status, links: links(id) });
        return;
      }
      const workflowInput = workflow.type === 'answer' ? { ...workflow.input, onFailure, callerKeyId: keyId } : workflow.input;
      try {
        await temporal.workflow.start(workflow.type, {
          taskQueue: TaskQueue.workflows,
          workflowId: id,
          args: [workflowInput],
          typedSearchAttributes: [
            { key: SearchAttr.tenant, value: tenantId },
            { key: SearchAttr.runType, value: body.type },
            { key: SearchAttr.status, value: 'queued' },
            { key: SearchAttr.model, value: model },
          ],
          staticSummary: `Keel ${body.type} run for tenant ${tenantId}`,
          memo: { summary: `Keel ${body.type} run on ${model}; on failure: ${onFailure}` },
          // A second start under this id is refused, open or closed: one key, one workflow.
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          res.status(200).location(links(id).self).json({ id, status: 'queued', links: links(id) });
          return;
        }
        // No workflow, so no run: the rejected request leaves nothing behind.
        await db.run.delete({ where: { id } }).catch(() => undefined);
        req.log.error({ err, runId: id }, 'could not start workflow');
        throw problems.unavailable('The workflow service is unavailable; nothing was started. Try again shortly.');
      }
      deps.metrics?.runsStarted.inc({ type: body.type });
      res.status(202).location(links(id).self).json({ id, status: 'queued', links: links(id) });
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
      const { tenantId, keyId } = requireAuth(req);
      res.locals.runId = params.id;
      const load = () =>
        db.run.findFirst({
          where: { id: params.id, tenantId },
          include: { steps: { orderBy: [{ startedAt: 'asc' }, { attempt: 'asc' }] } },
        });
      let run = await load();
      if (run && (await reconcileRun({ db, temporal }, run))) run = await load();
      if (!run) throw problems.notFound(`Run ${params.id}`);
      res.json(view({ ...run, result: await demaskForCaller(db, vaultCodec, run, keyId) }));
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
      const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
      const createdAt = {
        ...(query.createdAfter ? { gte: clampInstant(Date.parse(query.createdAfter)) } : {}),
        ...(query.createdBefore ? { lt: clampInstant(Date.parse(query.createdBefore)) } : {}),
      };
      const rows = await db.run.findMany({
        where: {
          tenantId,
          ...(query.status ? { status: query.status } : {}),
          ...(query.type ? { type: query.type } : {}),
          ...(Object.keys(createdAt).length ? { createdAt } : {}),
          ...(cursor
            ? {
                OR: [
                  { createdAt: { lt: cursor.createdAt } },
                  { createdAt: cursor.createdAt, id: { lt: cursor.id } },
                ],
              }
            : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      res.json({ data: page.map(summary), nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null });
    },
  );

  return router;
}
