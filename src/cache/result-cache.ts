import type { Redis } from 'ioredis';
import type OpenAI from 'openai';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import { embed, HASHING_EMBEDDING_MODEL, type EmbedFor, type Embeddings } from '../llm/embed';
import type { PriceTable } from '../llm/pricing';
import { loadPrompt } from '../llm/prompt-templates';
import type { KeelMetrics } from '../metrics/metrics';
import { createHash } from 'node:crypto';
import type { AnswerResult, CacheControl, ExtractResult, ModelOptions } from '../shared';
import type { LedgerEntry } from '../activities/ledger';
import { latestPolicyRowSql, policyFromRow } from '../guardrails/store';
import { canonicalJson } from '../runs/canonical-json';
import { falseHitReason } from './guards';
import { exactKey, outputParams, partitionKey, type CacheScope } from './key';
import { unmaskedPii } from './pii';
import type { Sealer } from './sealed';
import { VectorPartition } from './vector-partition';


export interface CacheSettings {
  /** Default TTL and threshold; a tenant's own settings override them. */
  ttlSeconds: number;
  similarityThreshold: number;
  /** Requests with a higher temperature skip the semantic tier (they asked for variety). */
  semanticMaxTemperature: number;
  /** How long a run computing a result holds the single-flight lease; identical runs wait at most this long. */
  leaseMs: number;
  /** Stream entries kept per semantic partition (older ones are trimmed). */
  maxEntriesPerPartition: number;
  /** Partitions each process keeps in memory (least recently used dropped first). */
  maxPartitionsInMemory: number;
  keyPrefix: string;
  /** KEEL_PROMPTS_DIR: the prompt files whose versions are part of every key. */
  promptsDir: string;
  /** Null: no semantic tier (no embedding model configured). */
  embeddingModel: string | null;
  retrievalTopK: number;
}

export type { CacheControl } from '../shared';

/** An extract run's result, stored under its exact key (no semantic tier: the source is not a question). */
export interface CachedExtract {
  v: 1;
  kind: 'extract';
  result: ExtractResult;
  runId: string;
  createdAt: number;
  saved: { tokens: number; costUsd: number; latencyMs: number };
}

/** What an extract lookup returns; the ticket crosses the workflow boundary, so hashes only. */
export interface ExtractLookup {
  hit?: { result: ExtractResult; originalRunId: string; ageSeconds: number };
  ticket?: CacheTicket;
}

/** What is stored: masked content only, sealed with the payload keys. */
export interface CachedValue {
  v: 1;
  result: AnswerResult;
  /** The sanitised question, for the false-hit guards. */
  question: string;
  runId: string;
  createdAt: number;
  /** What the original run spent: a hit saves this much. */
  saved: { tokens: number; costUsd: number; latencyMs: number };
}

export interface CacheHit {
  kind: 'exact' | 'semantic';
  value: CachedValue;
  similarity?: number;
  ageSeconds: number;
}

/** How a run that found nothing stores its result later; crosses the workflow boundary, so hashes only. */
export interface CacheTicket {
  tenantId: string;
  key: string;
  partition: string | null;
  ttlSeconds: number;
  /** This run holds the single-flight lease for `key`. */
  leader: boolean;
  store: boolean;
}

export interface RunLookup {
  hit?: { kind: 'exact' | 'semantic'; result: AnswerResult; originalRunId: string; ageSeconds: number; similarity?: number; waitedForLeader?: boolean };
  /** Absent: nothing to store (cache off for the tenant, or Redis unavailable). */
  ticket?: CacheTicket;
  /**
   * Asked not to wait (`waitForLeader: false`): an identical run holds the single-flight lease, so
   * this lookup ended without a ticket; look up again, waiting (the `cacheLookup` activity).
   */
  contended?: true;
}

export interface ResultCacheDeps {
  redis: Redis;
  db: Db;
  sealer: Sealer;
  settings: CacheSettings;
  /** For the semantic tier's embeddings. */
  llm?: OpenAI;
  prices?: PriceTable;
  metrics?: KeelMetrics;
  /** Warnings name the operation and the error message, never a key or a value. */
  warn?: (fields: Record<string, unknown>, message: string) => void;
}

/** A tenant's cache settings and corpus version, as `TENANT_CACHE_COLUMNS` and `tenantCacheSettingsSql` read them. */
export interface TenantCacheSettingsRow {
  enabled: boolean;
  ttl: number | null;
  threshold: number | null;
  epoch: number;
  corpus: number | null;
}

/** What `TENANT_CACHE_COLUMNS` selects. */
export interface TenantCacheRow extends TenantCacheSettingsRow {
  /** The latest guardrail policy row (`latestPolicyRowSql`), null when none is saved. */
  policy_row: { policy: unknown; version: number } | null;
}

/** The settings' columns of `tenant t` and its corpus version `cv`, by the name each is read as. */
const SETTINGS_COLUMNS: ReadonlyArray<readonly [keyof TenantCacheSettingsRow, string]> = [
  ['enabled', 't.cache_enabled'], ['ttl', 't.cache_ttl_seconds'], ['threshold', 't.cache_similarity_threshold'],
  ['epoch', 't.cache_epoch'], ['corpus', 'cv.version'],
];

/**
 * A tenant's cache settings, corpus version and latest guardrail policy (every key depends on
 * them), as columns and joins of a query over `tenant t`: the cache's own read, and the one read
 * that starting a run makes (src/runs/tenant-context.ts).
 */
export const TENANT_CACHE_COLUMNS = Prisma.sql`${Prisma.raw(SETTINGS_COLUMNS.map(([name, column]) => `${column} AS ${name}`).join(', '))},
  ${latestPolicyRowSql(Prisma.raw('t.id'))} AS policy_row`;
export const TENANT_CACHE_JOINS = Prisma.sql`LEFT JOIN corpus_version cv ON cv.tenant_id = t.id`;

/**
 * The settings alone as one JSON value (`TenantCacheSettingsRow`), for a statement about something
 * else: guardInput's `running` transition reads them with the run (src/runs/transitions.ts), so
 * the answer workflow's lookup needs no read of its own. `tenantId`: the SQL naming the tenant.
 */
export function tenantCacheSettingsSql(tenantId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(SELECT jsonb_build_object(${Prisma.raw(SETTINGS_COLUMNS.map(([name, column]) => `'${name}', ${column}`).join(', '))})
    FROM tenant t ${TENANT_CACHE_JOINS} WHERE t.id = ${tenantId})`;
}

export interface TenantCache {
  enabled: boolean;
  ttlSeconds: number;
  threshold: number;
  epoch: number;
  corpusVersion: number;
  /** The tenant's current guardrail policy (`<version>@<hash>`): an answer guarded under another policy is not reused. */
  policyVersion: string;
}

interface StreamEntry {
  id: string;
  v: string;
  exp: number;
}

/** A Buffer's bytes as float32s (copied: small Buffers share a pool, so their offset is not 0). */
function float32s(bytes: Buffer): Float32Array {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

const RELEASE_LEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * The exact tier and, on a miss, the single-flight lease, in one round trip: the sealed entry (or
 * nil) and 1 when this run holds the lease (it took it, or already held it).
 */
const LOOKUP_OR_LEASE = `local v = redis.call('get', KEYS[1])
if v then return {v, 0} end
if redis.call('set', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') or redis.call('get', KEYS[2]) == ARGV[1] then return {false, 1} end
return {false, 0}`;

/** The cache's scripts as commands (EVALSHA, loaded once per connection by ioredis). */
interface CacheScripts {
  keelLookupOrLeaseBuffer(entry: string, lease: string, runId: string, leaseMs: number): Promise<[Buffer | null, number]>;
  keelReleaseLease(lease: string, runId: string): Promise<number>;
}
type ScriptedPipeline = ReturnType<Redis['pipeline']> & { keelReleaseLease(lease: string, runId: string): ScriptedPipeline };

const scripted = new WeakSet<Redis>();
function withScripts(redis: Redis): Redis & CacheScripts {
  if (!scripted.has(redis)) {
    redis.defineCommand('keelLookupOrLease', { numberOfKeys: 2, lua: LOOKUP_OR_LEASE });
    redis.defineCommand('keelReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
    scripted.add(redis);
  }
  return redis as Redis & CacheScripts;
}

/** Every prompt an answer run may send (strategies use judge, critique and revise), each at its file's version. */
function answerPromptVersion(options: ModelOptions, dir: string): string {
  return promptVersions(['answer', 'judge', 'critique', 'revise'], options, dir);
}

function promptVersions(ids: string[], options: ModelOptions, dir: string): string {
  return ids.map((id) => `${id}:${loadPrompt(id, options.prompts?.[id] ?? null, dir).version}`).join(',');
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class CacheUnavailable extends Error {
  constructor(readonly op: string, cause: unknown) {
    super(`cache ${op}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'CacheUnavailable';
  }
}

/**
 * Keel's result cache: an exact tier (a hash of everything that decides the answer) and a
 * semantic tier (nearest neighbour of the question's embedding within the same scope), both in
 * Redis, values sealed with the payload keys. Every Redis failure degrades to "no cache": the
 * caller gets a miss, a warning is logged and `keel_cache_errors_total` counts it. Design and
 * numbers: docs/caching.md.
 */
export class ResultCache {
  private readonly partitions = new Map<string, VectorPartition>();

  constructor(private readonly deps: ResultCacheDeps) {}

  get settings(): CacheSettings {
    return this.deps.settings;
  }

  private k(tenantId: string, rest: string): string {
    return `${this.deps.settings.keyPrefix}cache:{${tenantId}}:${rest}`;
  }

  private async tenant(tenantId: string): Promise<TenantCache | undefined> {
    // One round trip: the settings, the corpus version and the guardrail policy the key depends on.
    const rows = await this.deps.db.$queryRaw<TenantCacheRow[]>`SELECT ${TENANT_CACHE_COLUMNS} FROM tenant t ${TENANT_CACHE_JOINS} WHERE t.id = ${tenantId}::uuid`;
    return rows[0] && this.settingsFromRow(rows[0]);
  }

  /** A tenant's cache settings from a row of `TENANT_CACHE_COLUMNS`, read by a caller's larger query. */
  settingsFromRow(row: TenantCacheRow): TenantCache {
    return this.settingsFrom(row, policyFromRow(row.policy_row).policyVersion);
  }

  /** The same from the settings alone and the guardrail policy version the run is guarded under (read beside them). */
  settingsFrom(row: TenantCacheSettingsRow, policyVersion: string): TenantCache {
    return {
      enabled: row.enabled,
      ttlSeconds: row.ttl ?? this.deps.settings.ttlSeconds,
      threshold: row.threshold ?? this.deps.settings.similarityThreshold,
      epoch: row.epoch,
      corpusVersion: row.corpus ?? 0,
      policyVersion,
    };
  }

  private scope(tenantId: string, options: ModelOptions, t: TenantCache): CacheScope {
    return {
      // The answer prompt's version is a hash of its file (the variant, if any, is in the options).
      tenantId, runType: 'answer', model: options.model, promptVersion: answerPromptVersion(options, this.deps.settings.promptsDir), params: outputParams(options),
      corpusVersion: t.corpusVersion, retrieval: { topK: this.deps.settings.retrievalTopK, embeddingModel: this.deps.settings.embeddingModel },
      policyVersion: t.policyVersion, epoch: t.epoch,
    };
  }

  private async redisOp<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.deps.metrics?.cacheErrors.inc({ op });
      this.deps.warn?.({ op, err: err instanceof Error ? err.message : String(err) }, 'cache unavailable: serving without it');
      throw new CacheUnavailable(op, err);
    }
  }

  private async readValue(tenantId: string, key: string): Promise<CachedValue | undefined> {
    const value = await this.readSealed<CachedValue | CachedExtract>(tenantId, key);
    return value && !('kind' in value) ? value : undefined;
  }

  private async readSealed<T extends { v: number }>(tenantId: string, key: string): Promise<T | undefined> {
    const bytes = await this.redisOp('get', () => this.deps.redis.getBuffer(this.k(tenantId, `x:${key}`)));
    return bytes ? this.openSealed<T>(tenantId, key, bytes) : undefined;
  }

  private async openSealed<T extends { v: number }>(tenantId: string, key: string, bytes: Buffer): Promise<T | undefined> {
    try {
      const value = await this.deps.sealer.unseal<T>(bytes);
      return value.v === 1 ? value : undefined;
    } catch {
      // Sealed under a key that is no longer listed, or corrupt: a miss, and the entry goes.
      await this.deps.redis.unlink(this.k(tenantId, `x:${key}`)).catch(() => undefined);
      return undefined;
    }
  }

  private hit(kind: 'exact' | 'semantic', value: CachedValue, startedAt: number, similarity?: number): CacheHit {
    return { kind, value, ageSeconds: this.countHit(kind, value, startedAt), ...(similarity !== undefined ? { similarity } : {}) };
  }

  /** Counts a hit and what it saved; returns the entry's age in seconds. */
  private countHit(kind: 'exact' | 'semantic', value: Pick<CachedValue, 'saved' | 'createdAt'>, startedAt: number): number {
    const m = this.deps.metrics;
    m?.cacheLookups.inc({ cache: kind, result: 'hit' });
    m?.cacheLookupDuration.observe({ cache: kind, result: 'hit' }, (performance.now() - startedAt) / 1000);
    m?.cacheTokensSaved.inc({ cache: kind }, value.saved.tokens);
    m?.cacheCostSaved.inc({ cache: kind }, value.saved.costUsd);
    m?.cacheLatencySaved.inc({ cache: kind }, Math.max(0, value.saved.latencyMs - (performance.now() - startedAt)) / 1000);
    return Math.max(0, Math.round((Date.now() - value.createdAt) / 1000));
  }

  private miss(kind: 'exact' | 'semantic', startedAt: number): void {
    this.deps.metrics?.cacheLookups.inc({ cache: kind, result: 'miss' });
    this.deps.metrics?.cacheLookupDuration.observe({ cache: kind, result: 'miss' }, (performance.now() - startedAt) / 1000);
  }

  /**
   * The API's fast path: the exact tier only (the API never calls a model, and a semantic
   * lookup needs an embedding). Undefined on a miss, when the tenant opted out, or with Redis down.
   * `settings`: the tenant's, when the caller read them already (`settingsFromRow`).
   */
  async lookupExact(tenantId: string, question: string, options: ModelOptions, settings?: TenantCache): Promise<CacheHit | undefined> {
    const startedAt = performance.now();
    const t = settings ?? (await this.tenant(tenantId));
    if (!t?.enabled) return undefined;
    try {
      const value = await this.readValue(tenantId, exactKey(this.scope(tenantId, options, t), question));
      if (value) return this.hit('exact', value, startedAt);
      this.miss('exact', startedAt);
    } catch (err) {
      if (!(err instanceof CacheUnavailable)) throw err;
    }
    return undefined;
  }

  /**
   * The workflow's lookup, for runs that did start: exact, then (for the one run that holds the
   * single-flight lease) semantic. A run that finds another identical run computing the same
   * result waits for it instead of calling the model; if that run fails and lets go of the lease,
   * one waiter takes it over.
   *
   * `waitForLeader: false` returns `{ contended: true }` at once instead of waiting (a caller that
   * would rather not hold its slot). `embedQuestion`: the question's embedding, when the caller
   * shares it with retrieval (used only if it is the semantic tier's model).
   */
  async lookupForRun(input: {
    runId: string; tenantId: string; question: string; options: ModelOptions; control: CacheControl;
    entry: LedgerEntry; heartbeat: () => void; sleep: (ms: number) => Promise<void>; signal?: AbortSignal;
    waitForLeader?: boolean; embedQuestion?: { model: string; embed: EmbedFor };
    /** The tenant's settings, when the caller read them already (`settingsFrom`). */
    settings?: TenantCache;
  }): Promise<RunLookup> {
    const { runId, tenantId, question, options, control } = input;
    const t = input.settings ?? (await this.tenant(tenantId));
    if (!t?.enabled) return {};
    const scope = this.scope(tenantId, options, t);
    const key = exactKey(scope, question);
    const semanticModel = this.semanticModel(options);
    const ticket: CacheTicket = {
      tenantId, key, ttlSeconds: t.ttlSeconds, leader: false, store: control.store,
      partition: semanticModel ? partitionKey(scope, semanticModel) : null,
    };
    if (!control.lookup) return { ticket };
    const startedAt = performance.now();
    const asHit = (h: CacheHit, waitedForLeader?: boolean): RunLookup => ({
      hit: {
        kind: h.kind, result: h.value.result, originalRunId: h.value.runId, ageSeconds: h.ageSeconds,
        ...(h.similarity !== undefined ? { similarity: h.similarity } : {}), ...(waitedForLeader ? { waitedForLeader } : {}),
      },
    });
    try {
      const lease = this.k(tenantId, `lease:${key}`);
      const acquire = async () =>
        (await this.redisOp('lease', () => this.deps.redis.set(lease, runId, 'PX', this.deps.settings.leaseMs, 'NX'))) === 'OK' ||
        (await this.redisOp('lease', () => this.deps.redis.get(lease))) === runId;
      // The entry, or the lease on a miss: one round trip (docs/lean-orchestration.md).
      const [sealed, held] = await this.redisOp('get', () =>
        withScripts(this.deps.redis).keelLookupOrLeaseBuffer(this.k(tenantId, `x:${key}`), lease, runId, this.deps.settings.leaseMs));
      const found = sealed ? await this.openSealed<CachedValue | CachedExtract>(tenantId, key, sealed) : undefined;
      if (found && !('kind' in found)) return asHit(this.hit('exact', found, startedAt));
      // An entry that did not open (retired key, corrupt, another kind) is a miss; the script took no lease then.
      let leader = sealed ? await acquire() : held === 1;
      if (!leader && input.waitForLeader === false) return { contended: true };
      const deadline = Date.now() + this.deps.settings.leaseMs;
      while (!leader && Date.now() < deadline) {
        await input.sleep(100);
        input.heartbeat();
        const value = await this.readValue(tenantId, key);
        if (value) return asHit(this.hit('exact', value, startedAt), true);
        leader = await acquire();
      }
      this.miss('exact', startedAt);
      ticket.leader = leader;

      if (semanticModel && ticket.partition && this.deps.llm && this.deps.prices) {
        const semanticStart = performance.now();
        const shared = input.embedQuestion?.model === semanticModel ? input.embedQuestion.embed : undefined;
        const embedded = await this.embedQuestion(input.entry, semanticModel, question, input.signal, shared);
        const vector = embedded?.vectors[0];
        if (!vector || embedded?.model === HASHING_EMBEDDING_MODEL) {
          // Hashing vectors cannot tell a paraphrase from another question: no semantic tier on them.
          ticket.partition = null;
        } else {
          await this.redisOp('stash', () => this.deps.redis.set(this.k(tenantId, `vec:${runId}`), Buffer.from(Float32Array.from(vector).buffer), 'PX', this.deps.settings.leaseMs * 2));
          const semantic = await this.searchSemantic(tenantId, ticket.partition, vector, question, t.threshold);
          if (semantic) {
            await this.release(ticket, runId);
            return asHit(this.hit('semantic', semantic.value, semanticStart, semantic.similarity));
          }
          this.miss('semantic', semanticStart);
        }
      }
      return { ticket };
    } catch (err) {
      if (err instanceof CacheUnavailable) return {};
      throw err;
    }
  }

  /** An embedding failure costs the semantic tier, never the run. */
  private async embedQuestion(entry: LedgerEntry, model: string, question: string, signal?: AbortSignal, shared?: EmbedFor): Promise<Embeddings | undefined> {
    if (!this.deps.llm || !this.deps.prices) return undefined;
    try {
      return await (shared ? shared(entry) : embed({ llm: this.deps.llm, prices: this.deps.prices }, entry, model, [question], signal));
    } catch (err) {
      if (signal?.aborted) throw err;
      this.deps.metrics?.cacheErrors.inc({ op: 'embed' });
      this.deps.warn?.({ op: 'embed', err: err instanceof Error ? err.message : String(err) }, 'semantic cache skipped: the embedding call failed');
      return undefined;
    }
  }

  private semanticModel(options: ModelOptions): string | null {
    const model = this.deps.settings.embeddingModel;
    if (!model || model === HASHING_EMBEDDING_MODEL) return null;
    if ((options.temperature ?? 0) > this.deps.settings.semanticMaxTemperature) return null;
    return model;
  }

  /** Brings this process's copy of a partition up to date with its Redis stream, then searches it. */
  private async searchSemantic(
    tenantId: string, partition: string, vector: number[], question: string, threshold: number,
  ): Promise<{ value: CachedValue; similarity: number } | undefined> {
    const index = await this.syncPartition(tenantId, partition, vector.length);
    for (const match of index.search(vector, threshold, Date.now())) {
      const value = await this.readValue(tenantId, match.entryId);
      // Gone (expired, purged) or a different question in disguise: try the next one.
      if (!value || falseHitReason(question, value.question)) continue;
      return { value, similarity: Number(match.similarity.toFixed(4)) };
    }
    return undefined;
  }

  private async syncPartition(tenantId: string, partition: string, dimensions: number): Promise<VectorPartition> {
    const id = `${tenantId}:${partition}`;
    let index = this.partitions.get(id);
    if (!index || index.dimensions !== dimensions) {
      index = new VectorPartition(dimensions);
      this.partitions.set(id, index);
      if (this.partitions.size > this.deps.settings.maxPartitionsInMemory) {
        const oldest = [...this.partitions.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
        if (oldest) this.partitions.delete(oldest[0]);
      }
    }
    index.lastUsed = Date.now();
    const stream = this.k(tenantId, `sem:${partition}`);
    for (;;) {
      const batch = await this.redisOp('sync', () => this.deps.redis.xrangeBuffer(stream, `(${index.cursor}`, '+', 'COUNT', 2000));
      for (const [entryId, fields] of batch) {
        const sealed = fields[1];
        index.cursor = entryId.toString();
        if (!sealed) continue;
        try {
          const entry = await this.deps.sealer.unseal<StreamEntry>(sealed);
          index.add(entry.id, float32s(Buffer.from(entry.v, 'base64')), entry.exp);
        } catch {
          // Sealed under a retired key: that entry is unreadable, the rest are not.
        }
      }
      if (batch.length < 2000) return index;
    }
  }

  /** Stores a finished run's result, unless it must not be cached; always lets go of the lease. */
  async store(input: {
    ticket: CacheTicket; runId: string; question: string; result: AnswerResult; saved: CachedValue['saved'];
    entry: LedgerEntry; signal?: AbortSignal;
  }): Promise<'stored' | 'no-store' | 'pii' | 'unavailable'> {
    const { ticket, runId } = input;
    try {
      if (!ticket.store) return this.stored('no-store');
      if (unmaskedPii(input.result.answer) || unmaskedPii(input.question)) return this.stored('pii');
      const value: CachedValue = { v: 1, result: input.result, question: input.question, runId, createdAt: Date.now(), saved: input.saved };
      const ttlMs = ticket.ttlSeconds * 1000;
      const entry = this.k(ticket.tenantId, `x:${ticket.key}`);
      const sealed = await this.deps.sealer.seal(value);
      if (ticket.partition || !ticket.leader) {
        await this.redisOp('set', () => this.deps.redis.set(entry, sealed, 'PX', ttlMs));
        if (ticket.partition) await this.indexSemantic(input, ttlMs);
      } else {
        // No semantic entry to write between them: the entry and the lease's release in one round trip.
        const pipeline = withScripts(this.deps.redis).pipeline().set(entry, sealed, 'PX', ttlMs) as ScriptedPipeline;
        await this.redisOp('set', async () => {
          const [set] = (await pipeline.keelReleaseLease(this.k(ticket.tenantId, `lease:${ticket.key}`), runId).exec()) ?? [];
          if (set?.[0]) throw set[0];
        });
        ticket.leader = false;
      }
      return this.stored('stored');
    } catch (err) {
      if (err instanceof CacheUnavailable) return 'unavailable';
      throw err;
    } finally {
      await this.release(ticket, runId);
    }
  }

  private stored<T extends string>(result: T): T {
    this.deps.metrics?.cacheStores.inc({ result });
    return result;
  }

  private async indexSemantic(input: { ticket: CacheTicket; runId: string; question: string; entry: LedgerEntry; signal?: AbortSignal }, ttlMs: number): Promise<void> {
    const { ticket, runId } = input;
    const stashed = await this.redisOp('stash', () => this.deps.redis.getBuffer(this.k(ticket.tenantId, `vec:${runId}`)));
    let vector: number[] | undefined = stashed ? Array.from(float32s(stashed)) : undefined;
    const model = this.deps.settings.embeddingModel;
    if (!vector && model) {
      const embedded = await this.embedQuestion(input.entry, model, input.question, input.signal);
      if (embedded && embedded.model !== HASHING_EMBEDDING_MODEL) vector = embedded.vectors[0];
    }
    if (!vector) return;
    const entry: StreamEntry = { id: ticket.key, v: Buffer.from(Float32Array.from(vector).buffer).toString('base64'), exp: Date.now() + ttlMs };
    const stream = this.k(ticket.tenantId, `sem:${ticket.partition}`);
    const sealed = await this.deps.sealer.seal(entry);
    await this.redisOp('index', () =>
      this.deps.redis.multi()
        .xadd(stream, 'MAXLEN', '~', String(this.deps.settings.maxEntriesPerPartition), '*', 'e', sealed)
        .pexpire(stream, ttlMs)
        .unlink(this.k(ticket.tenantId, `vec:${runId}`))
        .exec(),
    );
  }

  /** Lets identical waiting runs go ahead (one of them takes the lease over). Only the holder can release. */
  async release(ticket: CacheTicket, runId: string): Promise<void> {
    if (!ticket.leader) return;
    await withScripts(this.deps.redis).keelReleaseLease(this.k(ticket.tenantId, `lease:${ticket.key}`), runId).catch(() => undefined);
    ticket.leader = false;
  }

  /**
   * Extract runs, exact tier only: the same source text (`sourceId`, a hash of it or a
   * content-addressed key) extracted with the same schema, model, prompts and options. No
   * single flight: concurrent identical extractions each compute (they are rarer than repeated
   * questions, and a document is extracted in sections the lease would have to span).
   */
  async lookupExtract(input: { tenantId: string; sourceId: string; schema: Record<string, unknown>; options: ModelOptions; control: CacheControl }): Promise<ExtractLookup> {
    const t = await this.tenant(input.tenantId);
    if (!t?.enabled) return {};
    const key = exactKey(this.extractScope(input.tenantId, input.options, t), `${input.sourceId}:${sha256(canonicalJson(input.schema))}`);
    const ticket: CacheTicket = { tenantId: input.tenantId, key, partition: null, ttlSeconds: t.ttlSeconds, leader: false, store: input.control.store };
    if (!input.control.lookup) return { ticket };
    const startedAt = performance.now();
    try {
      const value = await this.readSealed<CachedValue | CachedExtract>(input.tenantId, key);
      if (value && 'kind' in value && value.kind === 'extract') {
        return { hit: { result: value.result, originalRunId: value.runId, ageSeconds: this.countHit('exact', value, startedAt) } };
      }
      this.miss('exact', startedAt);
      return { ticket };
    } catch (err) {
      if (err instanceof CacheUnavailable) return {};
      throw err;
    }
  }

  /** Stores a finished extract run's inline result; one held in object storage (`resultKey`) or holding unmasked PII is not cached. */
  async storeExtract(input: { ticket: CacheTicket; runId: string; result: ExtractResult; saved: CachedExtract['saved'] }): Promise<'stored' | 'no-store' | 'pii' | 'too-large' | 'unavailable'> {
    const { ticket } = input;
    if (!ticket.store) return this.stored('no-store');
    if (input.result.resultKey !== undefined || input.result.data === null) return this.stored('too-large');
    if (unmaskedPii(JSON.stringify(input.result.data))) return this.stored('pii');
    const value: CachedExtract = { v: 1, kind: 'extract', result: input.result, runId: input.runId, createdAt: Date.now(), saved: input.saved };
    try {
      await this.redisOp('set', async () => this.deps.redis.set(this.k(ticket.tenantId, `x:${ticket.key}`), await this.deps.sealer.seal(value), 'PX', ticket.ttlSeconds * 1000));
      return this.stored('stored');
    } catch (err) {
      if (err instanceof CacheUnavailable) return 'unavailable';
      throw err;
    }
  }

  private extractScope(tenantId: string, options: ModelOptions, t: TenantCache): CacheScope {
    return {
      tenantId, runType: 'extract', model: options.model, promptVersion: promptVersions(['extract', 'repair'], options, this.deps.settings.promptsDir),
      params: outputParams(options), corpusVersion: 0, retrieval: { topK: 0, embeddingModel: null }, policyVersion: t.policyVersion, epoch: t.epoch,
    };
  }

  /**
   * Purges a tenant's cache: bumps its epoch (every key and partition carries it, so nothing
   * cached before is reachable from this instant, on every process) and deletes its Redis keys.
   * `deleted` is null when Redis was unreachable; the entries then expire by TTL, unreachable.
   */
  async purge(tenantId: string): Promise<{ epoch: number; deleted: number | null }> {
    const [row] = await this.deps.db.$queryRaw<Array<{ epoch: number }>>`
      UPDATE tenant SET cache_epoch = cache_epoch + 1 WHERE id = ${tenantId}::uuid RETURNING cache_epoch AS epoch`;
    for (const id of [...this.partitions.keys()]) if (id.startsWith(`${tenantId}:`)) this.partitions.delete(id);
    let deleted = 0;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.redisOp('purge', () => this.deps.redis.scan(cursor, 'MATCH', this.k(tenantId, '*'), 'COUNT', 1000));
        cursor = next;
        if (keys.length) deleted += await this.redisOp('purge', () => this.deps.redis.unlink(...keys));
      } while (cursor !== '0');
    } catch (err) {
      if (!(err instanceof CacheUnavailable)) throw err;
      return { epoch: row?.epoch ?? 0, deleted: null };
    }
    return { epoch: row?.epoch ?? 0, deleted };
  }
}
