import { Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import type { CacheControl, CacheTicket, ResultCache, RunLookup } from '../cache';
import type { ExtractLookup, TenantCacheSettingsRow } from '../cache/result-cache';
import type { Db } from '../db/client';
import { queryRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import type { AnswerResult, ExtractResult, ExtractSource, ModelOptions } from '../shared';
import type { EmbedFor } from '../llm/embed';
import { withLedger, type LedgerOutcome } from './ledger';

export interface CacheActivityDeps {
  db: Db;
  /** Unset: no cache (lookups miss, nothing is stored). */
  cache?: ResultCache;
}

/**
 * What a run spent so far (a later hit saves this much), and how long it has taken. `startedAtMs`:
 * when the run started, if the caller knows (the lean answer workflow passes its start), saving a
 * read of the run row.
 */
async function spent(db: Db, runId: string, tenantId: string, startedAtMs?: number): Promise<{ tokens: number; costUsd: number; latencyMs: number }> {
  // A raw statement, not the ORM's aggregate: the lean answer workflow's store runs it on every miss.
  const [[sum], run] = await Promise.all([
    queryRaw<{ tokens: number; cost: number }>(db, Prisma.sql`
      SELECT (COALESCE(SUM(tokens_in), 0) + COALESCE(SUM(tokens_out), 0))::float8 AS tokens, COALESCE(SUM(cost_usd), 0)::float8 AS cost
      FROM run_step WHERE run_id = ${runId} AND tenant_id = ${tenantId}::uuid`),
    startedAtMs === undefined ? db.run.findFirst({ where: { id: runId, tenantId }, select: { startedAt: true, createdAt: true } }) : undefined,
  ]);
  const since = startedAtMs ?? (run ? (run.startedAt ?? run.createdAt).getTime() : undefined);
  return {
    tokens: sum?.tokens ?? 0,
    costUsd: sum?.cost ?? 0,
    latencyMs: since === undefined ? 0 : Date.now() - since,
  };
}

/**
 * What identifies an extraction's source text without reading it: a document's current version
 * (its content hash), or inline text's content-addressed key.
 */
async function sourceId(db: Db, tenantId: string, source: ExtractSource): Promise<string | undefined> {
  if ('textKey' in source) return `text:${source.textKey}`;
  if ('text' in source) return `text:${createHash('sha256').update(source.text).digest('hex')}`;
  const doc = await db.document.findFirst({ where: { id: source.documentId, tenantId, deletedAt: null }, select: { currentVersionId: true } });
  if (!doc?.currentVersionId) return undefined;
  const version = await db.documentVersion.findFirst({ where: { id: doc.currentVersionId, tenantId }, select: { sha256: true } });
  return version ? `document-sha256:${version.sha256}` : undefined;
}

/** What an answer run looks up: its sanitised question, options and the request's Cache-Control. */
export interface CacheLookupInput {
  runId: string;
  tenantId: string;
  question: string;
  options: ModelOptions;
  control?: CacheControl;
  /**
   * The tenant's cache settings as guardInput read them with the run, and the guardrail policy
   * version the run is guarded under (answer-lean-v3): the lookup then makes no read of its own.
   */
  settings?: { row: TenantCacheSettingsRow; policyVersion: string };
}

/**
 * The `cacheLookup` step: exact, then semantic lookup; one ledger row when it ends (its only bill is
 * a query embedding, recorded with the row, also on failure). `as`: when another activity does it
 * (`lookupAndRetrieve`), which never waits for a held lease, may share the question's embedding, and
 * writes this row with its own.
 */
export function cacheLookupStep(
  deps: CacheActivityDeps,
  input: CacheLookupInput,
  as?: { part: string; defer: LedgerOutcome[]; embedQuestion?: { model: string; embed: EmbedFor } },
): Promise<RunLookup> {
  const { db, cache } = deps;
  return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'cacheLookup', ...(as ? { part: as.part } : {}) }, async (entry) => {
    if (!cache) return {};
    const ctx = Context.current();
    const { settings, ...lookup } = input;
    return cache.lookupForRun({
      ...lookup, control: input.control ?? { lookup: true, store: true }, entry,
      ...(settings ? { settings: cache.settingsFrom(settings.row, settings.policyVersion) } : {}),
      heartbeat: () => ctx.heartbeat(), sleep: (ms) => ctx.sleep(ms), signal: ctx.cancellationSignal,
      ...(as ? { waitForLeader: false, ...(as.embedQuestion ? { embedQuestion: as.embedQuestion } : {}) } : {}),
    });
  }, undefined, { recordStart: false, ...(as ? { defer: as.defer } : {}) });
}

/** What a completed answer run offers the cache: its question, lookup ticket and result. */
export interface CacheStoreInput {
  runId: string;
  tenantId: string;
  question: string;
  ticket: CacheTicket;
  result: AnswerResult;
  /** When the workflow run started (the lean answer workflow passes it, saving a read of the run row). */
  runStartedAtMs?: number;
}

/**
 * The `cacheStore` step: offers a completed run's result to the cache, refused for PII, `no-store`
 * or an opted-out tenant; one ledger row. `as`: when another activity does it (`storeResult`), which
 * writes this row with its own.
 */
export function cacheStoreStep(deps: CacheActivityDeps, input: CacheStoreInput, as?: { part: string; defer: LedgerOutcome[] }): Promise<{ outcome: string }> {
  const { db, cache } = deps;
  return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'cacheStore', ...(as ? { part: as.part } : {}) }, async (entry) => {
    if (!cache) return { outcome: 'off' };
    const saved = await spent(db, input.runId, input.tenantId, input.runStartedAtMs);
    const ctx = Context.current();
    return { outcome: await cache.store({ ...input, saved, entry, signal: ctx.cancellationSignal }) };
  }, undefined, { recordStart: false, ...(as ? { defer: as.defer } : {}) });
}

/**
 * The cache offer of the step that ends an answer run (`storeResult`, or a passing `guardOutput`
 * since answer-lean-v4), made before the run turns `completed` so a client that saw it complete
 * and asks again is answered from the cache. Its `cacheStore` row goes into `defer`, for that
 * step's own statement. The answer stands whether or not the cache kept it: only a cancellation
 * of the attempt fails it.
 */
export async function offerBeforeCompleting(deps: CacheActivityDeps, input: CacheStoreInput, defer: LedgerOutcome[]): Promise<void> {
  await cacheStoreStep(deps, input, { part: 'cacheStore', defer }).catch((err: unknown) => {
    if (Context.current().cancellationSignal.aborted) throw err;
  });
}

export function createCacheActivities(deps: CacheActivityDeps) {
  const { db, cache } = deps;
  return {
    /** Exact, then semantic lookup; waits for an identical run that is already computing (single flight). */
    async cacheLookup(input: CacheLookupInput): Promise<RunLookup> {
      return cacheLookupStep(deps, input);
    },

    /** Offers a completed run's result to the cache (`cacheStoreStep`). */
    async cacheStore(input: CacheStoreInput): Promise<{ outcome: string }> {
      return cacheStoreStep(deps, input);
    },

    /** An extract run's exact lookup: the same source text and schema extracted before with the same model, prompts and options. */
    async extractCacheLookup(input: { runId: string; tenantId: string; source: ExtractSource; schema: Record<string, unknown>; options: ModelOptions; control?: CacheControl }): Promise<ExtractLookup> {
      return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'cacheLookup' }, async () => {
        if (!cache) return {};
        const id = await sourceId(db, input.tenantId, input.source);
        if (!id) return {};
        return cache.lookupExtract({ ...input, sourceId: id, control: input.control ?? { lookup: true, store: true } });
      });
    },

    /** Offers a completed extract run's result to the cache. */
    async extractCacheStore(input: { runId: string; tenantId: string; ticket: CacheTicket; result: ExtractResult }): Promise<{ outcome: string }> {
      return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'cacheStore' }, async () => {
        if (!cache) return { outcome: 'off' };
        return { outcome: await cache.storeExtract({ ...input, saved: await spent(db, input.runId, input.tenantId) }) };
      });
    },

    /** A run that held the single-flight lease and failed lets identical runs go ahead at once. */
    async cacheRelease(input: { runId: string; ticket: CacheTicket }): Promise<void> {
      await cache?.release(input.ticket, input.runId);
    },
  };
}
