import { Context } from '@temporalio/activity';
import { ApplicationFailure, type PayloadCodec } from '@temporalio/common';
import type { TenantCacheSettingsRow } from '../cache/result-cache';
import { AesGcmPayloadCodec } from '../codec/aes-gcm-codec';
import type { PayloadKeyRing } from '../codec/keys';
import type { Db } from '../db/client';
import { newEnclosure } from '../guardrails/canary';
import type { BlockReason, GuardrailDecision } from '../guardrails/decision';
import { checkInput, screenText } from '../guardrails/input';
import type { VaultEntry } from '../guardrails/mask';
import { checkOutput } from '../guardrails/output';
import type { PolicySections, RecordedPolicy } from '../guardrails/policy';
import { currentPolicy, policyFromRow, readVault, sealEntries, vaultUpsert } from '../guardrails/store';
import type { KeelMetrics } from '../metrics/metrics';
import { createRunTransitions } from '../runs/transitions';
import type { ResultCache } from '../cache';
import { checkedAnswer, FailureType, type AnswerResult, type ContextChunk, type GuardrailTrace, type PromptEnclosure } from '../shared';
import { offerBeforeCompleting, type CacheStoreInput } from './cache';
import { currentExecution, withLedger, type LedgerOutcome } from './ledger';

export interface GuardrailDeps {
  db: Db;
  metrics?: KeelMetrics;
  /** The payload key ring seals each run's PII vault; without it placeholders are never resolved. */
  payloadKeys?: PayloadKeyRing;
  /** The result cache guardOutput offers a passed answer to when it ends the run (`store`). */
  cache?: ResultCache;
}

/**
 * What the answer workflow hands guardOutput (`answer-lean-v4`) so that a check that passes ends
 * the run in the same attempt: the answer's result without its text (the check's `answer`), the
 * guardrail record so far, and the cache offer. `storeResult` did this as a local activity.
 */
export interface OutputStore {
  result: Omit<AnswerResult, 'answer' | 'guardrails'>;
  trace: GuardrailTrace;
  cacheStore?: Pick<CacheStoreInput, 'question' | 'ticket' | 'runStartedAtMs'>;
}

export interface GuardInputResult {
  /** Sanitized, PII masked: the only form of the question the rest of the run sees. */
  text: string;
  blocked: BlockReason[];
  decisions: GuardrailDecision[];
  policy: RecordedPolicy;
  enclosure: PromptEnclosure;
  masked: number;
  /** The tenant's cache settings, read with the run when asked (`cacheSettings`): the lookup then reads none. */
  cacheSettings?: TenantCacheSettingsRow;
}

export interface ScreenContextResult {
  keep: string[];
  dropped: Array<{ chunkId: string; documentId: string; rule: string; score?: number }>;
  decisions: GuardrailDecision[];
}

export interface GuardOutputResult {
  text: string;
  blocked: BlockReason[];
  decisions: GuardrailDecision[];
  regenerate: boolean;
  unsupportedClaims: number[];
  /** Set when this attempt also stored the result and turned the run `completed` (`store`). */
  stored?: true;
}

/** Guardrail checks call no model: their ledger row is written once, when the attempt ends. */
const QUICK = { recordStart: false } as const;

/** A one-line account of the decisions for the activity's heartbeat details and logs: layers and actions only. */
export function decisionSummary(decisions: readonly GuardrailDecision[]): string {
  return decisions.map((d) => `${d.layer}:${d.action}${d.score === undefined ? '' : `(${d.score})`}`).join(' ');
}

/**
 * The guardrail activities (profile `guardrail`). Each records its decisions in its ledger row
 * (the row's output) and in the run's event history (the activity result), and counts them in
 * `keel_guardrail_decisions_total`. None returns or records the originals behind a placeholder.
 */
export function createGuardrailActivities(deps: GuardrailDeps) {
  const runs = createRunTransitions(deps.db);
  const codec: PayloadCodec | undefined = deps.payloadKeys ? new AesGcmPayloadCodec(deps.payloadKeys) : undefined;
  const count = (decisions: readonly GuardrailDecision[]) => {
    for (const d of decisions) deps.metrics?.guardrailDecisions.inc({ guardrail: d.layer, decision: d.action });
    Context.current().log.info('guardrail decisions', { decisions: decisionSummary(decisions) });
  };

  return {
    /**
     * Input layers: limits, sanitize, injection rules + classifier (hidden payloads too), PII
     * masking. The question is read from the run's row rather than passed in, so the only
     * event of the run's history that holds it in clear (before the codec) is the workflow's start.
     */
    async guardInput(input: { runId: string; tenantId: string; callerKeyId?: string; markRunning?: boolean; cacheSettings?: boolean }): Promise<GuardInputResult> {
      let entries: VaultEntry[] = [];
      let sealed: Uint8Array<ArrayBuffer> | undefined;
      return withLedger(
        deps.db,
        { runId: input.runId, tenantId: input.tenantId, step: 'guardInput' },
        async () => {
          // `markRunning` (the lean answer workflow): the run turns `running` in the statement that reads its question.
          const [marked] = input.markRunning ? await runs.runningWithInput(input, currentExecution()) : [];
          const run = marked ?? (await deps.db.run.findFirst({ where: { id: input.runId, tenantId: input.tenantId }, select: { input: true } }));
          const question = (run?.input as { question?: unknown } | null)?.question;
          if (typeof question !== 'string') throw ApplicationFailure.nonRetryable(`Run ${input.runId} has no question to check`, FailureType.runNotFound);
          const policy = marked ? policyFromRow(marked.policy) : await currentPolicy(deps.db, input.tenantId);
          const check = checkInput(question, policy.policy);
          entries = check.entries;
          if (entries.length > 0 && codec) sealed = await sealEntries(codec, entries);
          count(check.decisions);
          // `cacheSettings` (answer-lean-v3): the settings the same statement read, for the workflow to hand to the lookup.
          const cacheSettings = input.cacheSettings && marked?.cache_settings ? { cacheSettings: marked.cache_settings } : {};
          return { text: check.text, blocked: check.blocked, decisions: check.decisions, policy, enclosure: newEnclosure(), masked: check.entries.length, ...cacheSettings };
        },
        (result) => [
          ...(sealed ? [vaultUpsert(deps.db, { runId: input.runId, tenantId: input.tenantId, ...(input.callerKeyId ? { apiKeyId: input.callerKeyId } : {}) }, sealed)] : []),
          // The stored request keeps only what the run saw: the masked question, or none if blocked for PII.
          ...(entries.length > 0 || result.blocked.some((b) => b.layer === 'pii')
            ? [deps.db.$executeRaw`UPDATE run SET input = jsonb_set(input, '{question}', to_jsonb(${result.text}::text)), updated_at = now()
                 WHERE id = ${input.runId} AND tenant_id = ${input.tenantId}::uuid AND input ? 'question'`]
            : []),
        ],
        QUICK,
      );
    },

    /** Indirect injection: each retrieved chunk through layers 1–2; flagged chunks are dropped. */
    async screenContext(input: { runId: string; tenantId: string; chunks: ContextChunk[]; policy: PolicySections<'injection' | 'context'> }): Promise<ScreenContextResult> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'screenContext' }, async () => {
        const keep: string[] = [];
        const dropped: ScreenContextResult['dropped'] = [];
        const decisions: GuardrailDecision[] = [];
        for (const chunk of input.chunks) {
          if (!input.policy.policy.context.screen) {
            keep.push(chunk.chunkId);
            continue;
          }
          const { flagged, decision } = screenText(chunk.text, input.policy.policy);
          decisions.push(decision);
          if (flagged) dropped.push({ chunkId: chunk.chunkId, documentId: chunk.documentId, rule: decision.rule, ...(decision.score === undefined ? {} : { score: decision.score }) });
          else keep.push(chunk.chunkId);
        }
        count(decisions);
        return { keep, dropped, decisions };
      }, undefined, QUICK);
    },

    /** Output layers: canary, restricted terms, PII/secrets, safety, brand, groundedness. */
    async guardOutput(input: {
      runId: string;
      tenantId: string;
      answer: string;
      context: string[];
      policy: PolicySections<'output'>;
      enclosure: PromptEnclosure;
      retried?: boolean;
      /**
       * `false`: guardInput masked nothing, so the run has no vault to read (the lean answer
       * workflow says so and saves the read); output PII is then sealed for `callerKeyId`.
       */
      vault?: boolean;
      callerKeyId?: string;
      /** `answer-lean-v4`: if the check passes, store the result and end the run here. */
      store?: OutputStore;
    }): Promise<GuardOutputResult> {
      const { runId, tenantId } = input;
      let sealed: Uint8Array<ArrayBuffer> | undefined;
      let apiKeyId: string | undefined;
      /** The result this attempt stores, when the check passed and the workflow asked (`store`). */
      let final: AnswerResult | undefined;
      /** The `cacheStore` and `storeResult` rows, written in the statement with this step's own. */
      const parts: LedgerOutcome[] = [];
      const checked = await withLedger(
        deps.db,
        { runId, tenantId, step: 'guardOutput' },
        async () => {
          const vault = codec && input.vault !== false ? await readVault(deps.db, codec, runId, tenantId) : undefined;
          const known = vault?.entries ?? [];
          apiKeyId = vault?.apiKeyId ?? input.callerKeyId ?? undefined;
          const check = checkOutput(input.answer, input.policy.policy, { canary: input.enclosure.canary, context: input.context, entries: known, retried: input.retried });
          if (check.entries.length > 0 && codec) sealed = await sealEntries(codec, [...known, ...check.entries]);
          count(check.decisions);
          const result: GuardOutputResult = { text: check.text, blocked: check.blocked, decisions: check.decisions, regenerate: check.regenerate, unsupportedClaims: check.unsupportedClaims };
          // The run ends here when the answer passed, in one statement with this step's row: no
          // local activity, no activation and no marker after it (docs/lean-orchestration.md). Not
          // when output PII was sealed: that vault write needs a transaction, and storeResult does it.
          if (!input.store || check.blocked.length > 0 || check.regenerate || sealed) return result;
          const stored = checkedAnswer({ ...input.store.result, answer: input.answer }, input.store.trace, check);
          if (input.store.cacheStore) await offerBeforeCompleting({ db: deps.db, cache: deps.cache }, { runId, tenantId, result: stored, ...input.store.cacheStore }, parts);
          await withLedger(deps.db, { runId, tenantId, step: 'storeResult', part: 'storeResult' }, async () => undefined, undefined, { ...QUICK, defer: parts });
          final = stored;
          return { ...result, stored: true as const };
        },
        () => (sealed ? [vaultUpsert(deps.db, { runId, tenantId, ...(apiKeyId ? { apiKeyId } : {}) }, sealed)] : []),
        { ...QUICK, carry: parts, withCompleted: () => (final ? runs.completedSql(input, currentExecution(), final, final.model) : undefined) },
      );
      if (final) deps.metrics?.runsFinished.inc({ type: Context.current().info.workflowType, status: 'completed' });
      return checked;
    },
  };
}
