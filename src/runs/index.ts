/**
 * The owner of a run's lifecycle. Everything that creates a run, starts its workflow, changes its
 * row, reads it, reconciles it with Temporal or acts on it as an operator goes through here; routes
 * make one call each. See docs/run-lifecycle.md.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { outcomeSql } from '../activities/ledger';
import { executeRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import type { KeelMetrics } from '../metrics/metrics';
import { isDeadlineExceeded, problems } from '../api/problem';
import { idempotencyKeyReused, idempotentRunId } from '../api/idempotency';
import { createRunWithinQuota } from '../api/run-quota';
import type { CachedRunResponse, CreateRunRequest, CreateRunResponse, ListRunsQuery, RunList, RunView } from '../schemas/runs';
import type { CacheControl, CacheHitInfo, RunType } from '../shared';
import type { ResultCache } from '../cache';
import { answerFromCache } from '../cache/fast-path';
import { runLinks } from '../api/links';
import { planRunVersions } from '../trace/versions';
import { AesGcmPayloadCodec } from '../codec/aes-gcm-codec';
import { demaskForCaller } from '../guardrails/store';
import type { ObjectStore } from '../storage';
import { createOperatorActions } from './operator';
import { prepareWorkflow } from './prepare';
import { inputHash, startWorkflow, type RunWorkflow, type StartMeta, type Undo } from './start';
import { isTerminal } from './status';
import { syncRun, type RunClosedHooks } from './sync';
import { keelRunClosedHooks } from './hooks';
import { readTenantRunContext, type TenantRunContext } from './tenant-context';
import { clampInstant, decodeCursor, encodeCursor, runSummary, runView } from './views';

export { createRunTransitions, type RunRef, type RunTransitions } from './transitions';
export { isTerminal, terminalSql, TERMINAL_STATUSES, type RunError } from './status';
export { startRunReconciler, type Reconciler } from './reconciler';
export { syncRun, type RunClosedHook, type RunClosedHooks } from './sync';
export { keelRunClosedHooks } from './hooks';
export { inputHash, type RunWorkflow } from './start';
export type { Operator as RunOperator } from './operator';

export interface RunServiceDeps {
  db: Db;
  temporal: Client;
  config: Config;
  /** Where an extract run's inline text is kept (claim-check). */
  store: ObjectStore;
  metrics?: KeelMetrics;
  /** Per run type, what to do when a run closes without its workflow's own cleanup. */
  onClosed?: RunClosedHooks;
  log?: Pick<Logger, 'error' | 'warn'>;
  /** The result cache's fast path in `create`; unset: every run starts a workflow. */
  cache?: ResultCache;
}

/** What `create` did: started a run (`created`), found the Idempotency-Key's run, or answered from the cache. */
export type CreateRunOutcome =
  | { created: boolean; cached?: false; run: CreateRunResponse }
  | { created: true; cached: true; run: CachedRunResponse };

/** A run that finished without a workflow, as `recordCompleted` writes it. */
export interface CompletedRun {
  id?: string;
  tenantId: string;
  type: RunType;
  input: Prisma.InputJsonValue;
  inputHash: string;
  options?: Prisma.InputJsonValue;
  model?: string;
  result: Prisma.InputJsonValue;
  idempotencyKey?: string;
  /** Set when the result came from the cache; the row keeps it for reads and usage. */
  cache?: CacheHitInfo;
  /** When the work began (default: now). */
  startedAt?: Date;
  /** The one ledger row for the work done instead of a workflow (e.g. `cacheLookup`), zero tokens. */
  step?: { name: string; output?: Prisma.InputJsonValue };
}

/** A non-terminal row untouched this long is checked against Temporal when read singly. */
export const STALE_RUN_MS = 5_000;

export function createRunService(serviceDeps: RunServiceDeps) {
  const deps = { ...serviceDeps, onClosed: serviceDeps.onClosed ?? keelRunClosedHooks(serviceDeps.db) };
  const { db, temporal, config } = deps;
  const links = (id: string) => runLinks(config, id);
  // Opens PII vaults, so the caller who started a run reads its answer with the originals back.
  const vaultCodec = config.KEEL_PAYLOAD_KEYS ? new AesGcmPayloadCodec(config.KEEL_PAYLOAD_KEYS) : undefined;

  /** Starts the workflow of a run whose rows are written; if it cannot start, `undo` removes them. */
  /**
   * Temporal calls made for a request run under its deadline (KEEL_REQUEST_TIMEOUT_MS): past it
   * they fail where they stand (503 request-timeout) instead of going on after the client gave up.
   */
  const withinDeadline = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => temporal.withDeadline(Date.now() + config.KEEL_REQUEST_TIMEOUT_MS, () => fn(...args));

  const start = async (workflow: RunWorkflow, meta: StartMeta, undo: Undo): Promise<boolean> => {
    try {
      const started = await withinDeadline(startWorkflow)(temporal, workflow, meta);
      if (started) deps.metrics?.runsStarted.inc({ type: workflow.type });
      return started;
    } catch (err) {
      // No workflow, so no run: the rejected request leaves nothing behind. A start that ran out
      // of time may still have reached the server: stop that workflow before the rows go.
      if (isDeadlineExceeded(err)) {
        await temporal.workflow.getHandle(workflow.input.runId).terminate('its start request timed out; nothing was started').catch(() => undefined);
      }
      await undo(db).catch(() => undefined);
      if (isDeadlineExceeded(err)) throw problems.timeout(config.KEEL_REQUEST_TIMEOUT_MS);
      deps.log?.error({ err, runId: workflow.input.runId }, 'could not start workflow');
      throw problems.unavailable('The workflow service is unavailable; nothing was started. Try again shortly.');
    }
  };

  const operator = createOperatorActions(deps);

  /**
   * Records a run that finished without a workflow (an answer served from cache): a `completed`
   * row with its result, so it is listed, counted and read like any other run, and, with `step`,
   * its one ledger row (zero tokens). One statement (the run's INSERT as a CTE before the ledger's
   * own upsert, `outcomeSql`), so both land or neither, in one round trip: the API's cache-hit path runs it, where
   * Prisma's batch transaction took four (BEGIN, two INSERTs, COMMIT).
   */
  const recordCompleted = async (run: CompletedRun): Promise<string> => {
    const id = run.id ?? uuidv7();
    const endedAt = new Date();
    const startedAt = run.startedAt ?? endedAt;
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    const insertRun = Prisma.sql`
      INSERT INTO run (id, tenant_id, type, status, input, input_hash, options, model, result, idempotency_key, cache, started_at, completed_at, updated_at)
      VALUES (${id}, ${run.tenantId}::uuid, ${run.type}, 'completed', ${json(run.input)}::jsonb, ${run.inputHash}, COALESCE(${json(run.options)}::jsonb, '{}'::jsonb),
              ${run.model ?? null}, ${json(run.result)}::jsonb, ${run.idempotencyKey ?? null}, ${json(run.cache)}::jsonb, ${startedAt}, ${endedAt}, ${endedAt})`;
    const { step } = run;
    // The ledger's own upsert, with the run's INSERT as a CTE before it (as withLedger's `withCompleted`).
    const ledgerRow = step
      ? outcomeSql([
          {
            runId: id, workflowRunId: 'api', activityId: step.name, attempt: 1, tenantId: run.tenantId, step: step.name, status: 'completed',
            startedAt, endedAt, entry: { usage: { tokensIn: 0, tokensOut: 0, costUsd: 0 }, lineage: {} }, error: undefined, output: step.output,
          },
        ])
      : undefined;
    await executeRaw(db, ledgerRow ? Prisma.sql`WITH inserted AS (${insertRun}) ${ledgerRow}` : insertRun);
    return id;
  };

  return {
    cancel: withinDeadline(operator.cancel),
    terminate: withinDeadline(operator.terminate),
    retry: withinDeadline(operator.retry),
    resume: withinDeadline(operator.resume),
    audit: withinDeadline(operator.audit),

    /**
     * `POST /v1/runs`: validates what needs the database, inserts the run within the tenant's
     * in-flight quota and starts its workflow. With an `Idempotency-Key`, the same key and body
     * answer the existing run (`created: false`), another body is a 409. An answer run without an
     * Idempotency-Key that the exact result cache answers is recorded already `completed` and no
     * workflow starts (`cached: true`); `cache` (the request's Cache-Control) also goes to the
     * workflow, whose own cache step may still hit.
     */
    async create(
      caller: { tenantId: string; keyId: string; runContext?: TenantRunContext },
      body: CreateRunRequest,
      idempotencyKey: string | undefined,
      cache: CacheControl = { lookup: true, store: true },
    ): Promise<CreateRunOutcome> {
      const { tenantId } = caller;
      const id = idempotencyKey ? idempotentRunId(tenantId, idempotencyKey) : uuidv7();
      const requestedOnFailure = body.onFailure;
      // The release plan, the corpus version, `onFailure` and the cache's settings: read with the
      // caller's key (src/api/auth.ts), or in one round trip here.
      const tenant = caller.runContext ?? (await readTenantRunContext(db, tenantId));
      // The release policy may send this run to a candidate model or prompt variants.
      const planned = await planRunVersions(
        { db, config },
        { tenantId, runId: id, options: { ...body.options, model: body.options.model ?? config.llm.model }, requestedModel: body.options.model !== undefined },
        tenant,
      );
      const onFailure = requestedOnFailure ?? tenant.onFailure;
      const cacheSettings = deps.cache && tenant.cache && body.type === 'answer' && !idempotencyKey && cache.lookup ? deps.cache.settingsFromRow(tenant.cache) : undefined;
      const { options } = planned;
      const model = options.model;
      const workflow = await prepareWorkflow({ db, config, store: deps.store }, { tenantId, runId: id, body, options, onFailure, callerKeyId: caller.keyId, cache });
      const hash = inputHash({ type: body.type, input: body.input, options: body.options, ...(requestedOnFailure ? { onFailure } : {}) });
      if (deps.cache && workflow.type === 'answer' && !idempotencyKey) {
        const hit = await answerFromCache(deps.cache, { tenantId, question: workflow.input.question, options, control: cache, ...(cacheSettings ? { settings: cacheSettings } : {}) });
        if (hit) {
          await recordCompleted({
            id, tenantId, type: 'answer', input: body.input, inputHash: hash, options: { ...options },
            model: hit.result.model, result: hit.result as unknown as Prisma.InputJsonObject, cache: hit.cache, startedAt: hit.startedAt,
            step: { name: 'cacheLookup', output: { kind: hit.cache.kind, originalRunId: hit.cache.originalRunId } },
          });
          deps.metrics?.runsStarted.inc({ type: 'answer' });
          deps.metrics?.runsFinished.inc({ type: 'answer', status: 'completed' });
          return { created: true, cached: true, run: { id, status: 'completed', cached: true, cache: hit.cache, result: hit.result, links: links(id) } };
        }
      }
      // Of concurrent requests with one Idempotency-Key, exactly one inserts the row and goes on
      // to start the workflow; the others answer with that run.
      const inserted = await createRunWithinQuota(db, config.KEEL_MAX_INFLIGHT_RUNS_PER_TENANT, {
        // zod's unknown-valued records are JSON by construction (they came from JSON.parse).
        id, tenantId, type: body.type, status: 'queued', input: body.input, inputHash: hash, options, model, idempotencyKey: idempotencyKey ?? null,
        versions: planned.versions as unknown as Prisma.InputJsonObject,
      });
      if (inserted.count === 0) {
        const existing = await db.run.findFirst({ where: { tenantId, idempotencyKey: idempotencyKey ?? null, id } });
        if (!existing) throw problems.unavailable('A request with this Idempotency-Key is being retried; try again shortly.');
        if (existing.inputHash !== hash) throw idempotencyKeyReused();
        return { created: false, run: { id, status: existing.status as CreateRunResponse['status'], links: links(id) } };
      }
      const started = await start(workflow, { tenantId, model, onFailure, summary: `Keel ${body.type} run for tenant ${tenantId}` }, (d) =>
        d.run.deleteMany({ where: { id } }),
      );
      return { created: started, run: { id, status: 'queued', links: links(id) } };
    },

    /**
     * Starts the workflow of a run whose row the caller wrote in its own transaction (a document
     * upload writes the document, its version and the ingest run together); `undo` removes them.
     */
    startRecorded: start,

    recordCompleted,

    /**
     * A run with its ledger; a stale non-terminal row is first checked against Temporal. The key
     * that started the run reads its answer de-masked (guardrails' PII vault); others read it masked.
     */
    async get(caller: { tenantId: string; keyId: string }, id: string): Promise<RunView> {
      const { tenantId } = caller;
      const load = () => db.run.findFirst({ where: { id, tenantId }, include: { steps: { orderBy: [{ startedAt: 'asc' }, { attempt: 'asc' }] } } });
      let run = await load();
      if (run && !isTerminal(run.status) && Date.now() - run.updatedAt.getTime() >= STALE_RUN_MS) {
        // Temporal unreachable: show the row as it is rather than fail the read.
        const synced = await withinDeadline(syncRun)(deps, id).catch(() => undefined);
        if (synced && synced.run.updatedAt.getTime() !== run.updatedAt.getTime()) run = await load();
      }
      if (!run) throw problems.notFound(`Run ${id}`);
      return runView(config, { ...run, result: await demaskForCaller(db, vaultCodec, run, caller.keyId) });
    },

    async list(tenantId: string, query: ListRunsQuery): Promise<RunList> {
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
            ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] }
            : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return { data: page.map((r) => runSummary(config, r)), nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null };
    },

    /** Brings one run's row and audit trail in line with Temporal now. */
    sync: (id: string) => syncRun(deps, id),
  };
}

export type RunService = ReturnType<typeof createRunService>;
