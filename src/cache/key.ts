import { createHash } from 'node:crypto';
import { sanitizeText } from '../activities/sanitize';
import type { ModelOptions, RunType } from '../shared';

/** Bumped when the key recipe or the cached value's shape changes: old entries then miss. */
export const CACHE_FORMAT = 1;

/**
 * Everything that decides what a run would answer, apart from the question itself. Both cache
 * tiers are scoped by all of it: the exact key hashes it with the question, and the semantic
 * index keeps one partition per distinct scope, so entries of another tenant, model, prompt
 * version, corpus version or parameter set are never even compared.
 */
export interface CacheScope {
  tenantId: string;
  runType: RunType;
  model: string;
  promptVersion: string;
  /** Every option that changes the output (sampling, strategy), model excluded (above). */
  params: Record<string, unknown>;
  /** The tenant's corpus version: an upload, new version or delete moves every key. */
  corpusVersion: number;
  /** Retrieval shapes the prompt, so its settings are part of the scope too. */
  retrieval: { topK: number; embeddingModel: string | null };
  /** The tenant's guardrail policy version (`<version>@<hash>`); null only where no policy applies. */
  policyVersion: string | null;
  /** The tenant's cache epoch, bumped by a purge. */
  epoch: number;
}

/** Output-changing options, in a fixed order, without undefined values. */
export function outputParams(options: ModelOptions): Record<string, unknown> {
  const { model: _model, ...rest } = options;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The question as the key sees it: the same sanitising the run applies (NFKC, no control or
 * invisible characters), and any run of whitespace as one space. Case is kept: the model sees it.
 */
export function normaliseQuestion(question: string): string {
  return sanitizeText(question).text.replace(/\s+/g, ' ');
}

function digest(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** The scope's fields in a fixed order (JSON.stringify keeps insertion order). */
function scopeParts(scope: CacheScope): unknown[] {
  return [
    CACHE_FORMAT, scope.tenantId, scope.runType, scope.model, scope.promptVersion, scope.params, scope.corpusVersion,
    scope.retrieval.topK, scope.retrieval.embeddingModel, scope.policyVersion, scope.epoch,
  ];
}

/** The exact-cache key: a SHA-256, so no text of the question ever appears in Redis keys. */
export function exactKey(scope: CacheScope, question: string): string {
  return digest([...scopeParts(scope), normaliseQuestion(question)]);
}

/** The semantic index partition for a scope (and the embedding model that fills it). */
export function partitionKey(scope: CacheScope, embeddingModel: string): string {
  return digest([...scopeParts(scope), embeddingModel]).slice(0, 32);
}
