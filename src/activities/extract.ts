import { ApplicationFailure } from '@temporalio/common';
import { Ajv, type ErrorObject } from 'ajv';
import type { Db } from '../db/client';
import { countTokens } from '../documents/chunk';
import { buildExtractMessages, buildRepairMessages } from '../llm/prompt';
import { FailureType, type ModelOptions } from '../shared';
import { withLedger } from './ledger';
import { chatCall, modelParams, promptSource, type ModelCallDeps } from './model-call';

export interface ExtractDeps extends ModelCallDeps {
  db: Db;
  /** Whether the endpoint takes `response_format: json_schema`; else JSON mode with the schema in the prompt. */
  jsonSchemaFormat: boolean;
  sectionTokens?: number;
}

type Source = { documentId: string } | { text: string };

interface SectionInput {
  runId: string;
  tenantId: string;
  source: Source;
  section: number;
  schema: Record<string, unknown>;
  options: ModelOptions;
}

export interface SectionOutput {
  raw: string;
  data: unknown;
  errors: string[];
}

/** A long document is extracted in sections of about this many words, then merged. */
export const DEFAULT_SECTION_TOKENS = 3000;

export function validationErrors(schema: Record<string, unknown>, value: unknown): string[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
}

/** Throws with a readable message when the schema itself is not a usable JSON Schema. */
export function checkSchema(schema: unknown): string | undefined {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'must be a JSON Schema object';
  try {
    new Ajv({ allErrors: true, strict: false }).compile(schema);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function parseOutput(schema: Record<string, unknown>, raw: string): SectionOutput {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return { raw, data: null, errors: [`(root) is not JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  return { raw, data, errors: validationErrors(schema, data) };
}

export function splitSections(text: string, sectionTokens: number): string[] {
  const paragraphs = text.split(/\n\s*\n/);
  const sections: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const p of paragraphs) {
    const n = countTokens(p);
    if (size + n > sectionTokens && current.length > 0) {
      sections.push(current.join('\n\n'));
      current = [];
      size = 0;
    }
    current.push(p);
    size += n;
  }
  if (current.length > 0) sections.push(current.join('\n\n'));
  return sections.length > 0 ? sections : [''];
}

/**
 * Merges per-section results: objects field by field, arrays concatenated without duplicates,
 * and for scalars the first section that has a value wins (documents state facts before they
 * elaborate on them).
 */
export function mergeExtractions(parts: readonly unknown[]): unknown {
  const present = parts.filter((p) => p !== undefined && p !== null);
  if (present.length === 0) return null;
  if (present.every((p) => Array.isArray(p))) {
    const seen = new Set<string>();
    return (present as unknown[][]).flat().filter((x) => {
      const key = JSON.stringify(x);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  if (present.every((p) => typeof p === 'object' && !Array.isArray(p))) {
    const keys = [...new Set(present.flatMap((p) => Object.keys(p as Record<string, unknown>)))];
    return Object.fromEntries(keys.map((k) => [k, mergeExtractions(present.map((p) => (p as Record<string, unknown>)[k]))]));
  }
  return present[0];
}

export function createExtractActivities(deps: ExtractDeps) {
  const sectionTokens = deps.sectionTokens ?? DEFAULT_SECTION_TOKENS;
  const sourceText = async (tenantId: string, source: Source): Promise<string> => {
    if ('text' in source) return source.text;
    const doc = await deps.db.document.findFirst({ where: { id: source.documentId, tenantId, status: 'ready' } });
    if (!doc?.currentVersionId) {
      throw ApplicationFailure.nonRetryable(`Document ${source.documentId} is not ready for extraction`, FailureType.invalidInput);
    }
    const pages = await deps.db.documentPage.findMany({ where: { versionId: doc.currentVersionId }, orderBy: { page: 'asc' } });
    return pages.map((p) => p.text).join('\n\n');
  };
  const format = (schema: Record<string, unknown>) =>
    deps.jsonSchemaFormat
      ? { response_format: { type: 'json_schema' as const, json_schema: { name: 'extraction', schema, strict: false } } }
      : { response_format: { type: 'json_object' as const } };

  return {
    /** How many sections the source splits into; the text stays in the database, not in workflow history. */
    async planExtraction(input: { tenantId: string; source: Source }): Promise<{ sections: number }> {
      return { sections: splitSections(await sourceText(input.tenantId, input.source), sectionTokens).length };
    },

    async extractSection(input: SectionInput): Promise<SectionOutput> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'extractSection' }, async (entry) => {
        const text = splitSections(await sourceText(input.tenantId, input.source), sectionTokens)[input.section] ?? '';
        const reply = await chatCall(deps, entry, buildExtractMessages(text, input.schema, !deps.jsonSchemaFormat, promptSource(deps, input.options)), modelParams(input.options), format(input.schema));
        return parseOutput(input.schema, reply.content);
      });
    },

    /** One repair attempt: the invalid output and its validation errors go back to the model. */
    async repairExtraction(input: SectionInput & { previous: string; errors: string[] }): Promise<SectionOutput> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'repairExtraction' }, async (entry) => {
        const text = splitSections(await sourceText(input.tenantId, input.source), sectionTokens)[input.section] ?? '';
        const messages = buildRepairMessages(text, input.schema, !deps.jsonSchemaFormat, input.previous, input.errors, promptSource(deps, input.options));
        const reply = await chatCall(deps, entry, messages, modelParams(input.options), format(input.schema));
        return parseOutput(input.schema, reply.content);
      });
    },

    async mergeSections(input: { schema: Record<string, unknown>; parts: unknown[] }): Promise<{ data: unknown; errors: string[] }> {
      const data = input.parts.length === 1 ? input.parts[0] : mergeExtractions(input.parts);
      return { data, errors: validationErrors(input.schema, data) };
    },
  };
}
