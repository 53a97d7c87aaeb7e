import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import { countTokens } from '../documents/chunk';
import { SchemaRejected, validationErrors } from '../extraction/schema-guard';
import { buildExtractMessages, buildRepairMessages } from '../llm/prompt';
import { FailureType, type ExtractSectionPart, type ExtractSource, type ModelOptions, type TextRange } from '../shared';
import type { ObjectStore } from '../storage';
import { assertTenantKey, checkInIfLarge, DEFAULT_INLINE_PAYLOAD_MAX_BYTES, extractTextKey, readJson, runObjectKey } from '../storage/claim-check';
import { withLedger } from './ledger';
import { chatCall, modelParams, promptSource, type ModelCallDeps } from './model-call';

export interface ExtractDeps extends ModelCallDeps {
  db: Db;
  store: ObjectStore;
  /** Section and merged results above this many bytes of JSON go to object storage (claim-check). */
  inlinePayloadMaxBytes?: number;
  /** Whether the endpoint takes `response_format: json_schema`; else JSON mode with the schema in the prompt. */
  jsonSchemaFormat: boolean;
  sectionTokens?: number;
}

type Source = ExtractSource;

interface SectionInput {
  runId: string;
  tenantId: string;
  source: Source;
  section: number;
  /** Character range of the section in the source text; absent in runs recorded before ranges. */
  range?: TextRange;
  schema: Record<string, unknown>;
  options: ModelOptions;
}

/** A section's result: inline when small, else `raw` is empty, `data` null and `resultKey` holds both. */
export interface SectionOutput {
  raw: string;
  data: unknown;
  errors: string[];
  resultKey?: string;
}

export interface ExtractionPlan {
  sections: number;
  /** The source to read sections from: inline text is replaced by its object key. */
  source: Source;
  ranges: TextRange[];
}

/** A long document is extracted in sections of about this many words, then merged. */
export const DEFAULT_SECTION_TOKENS = 3000;

export { validationErrors };

/** Validation inside an activity: a schema that cannot be compiled will never work, so no retry. */
function checkedErrors(schema: Record<string, unknown>, value: unknown): string[] {
  try {
    return validationErrors(schema, value);
  } catch (err) {
    if (err instanceof SchemaRejected) throw ApplicationFailure.nonRetryable(`The extraction schema ${err.message}`, FailureType.invalidInput);
    throw err;
  }
}

function parseOutput(schema: Record<string, unknown>, raw: string): SectionOutput {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return { raw, data: null, errors: [`(root) is not JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  return { raw, data, errors: checkedErrors(schema, data) };
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

/** Like splitSections, as character ranges of `text`, so a section is read by key and range. */
export function splitRanges(text: string, sectionTokens: number): TextRange[] {
  const paragraphs: TextRange[] = [];
  let last = 0;
  for (const m of text.matchAll(/\n\s*\n/g)) {
    paragraphs.push([last, m.index]);
    last = m.index + m[0].length;
  }
  paragraphs.push([last, text.length]);
  const ranges: TextRange[] = [];
  let current: TextRange | undefined;
  let size = 0;
  for (const p of paragraphs) {
    const n = countTokens(text.slice(p[0], p[1]));
    if (current && size + n > sectionTokens) {
      ranges.push(current);
      current = undefined;
      size = 0;
    }
    current = current ? [current[0], p[1]] : [p[0], p[1]];
    size += n;
  }
  if (current) ranges.push(current);
  return ranges;
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
  const maxInline = deps.inlinePayloadMaxBytes ?? DEFAULT_INLINE_PAYLOAD_MAX_BYTES;
  const sourceText = async (tenantId: string, source: Source): Promise<string> => {
    if ('text' in source) return source.text;
    if ('textKey' in source) {
      assertTenantKey(tenantId, source.textKey);
      return (await deps.store.get(source.textKey)).toString('utf8');
    }
    const doc = await deps.db.document.findFirst({ where: { id: source.documentId, tenantId, status: 'ready' } });
    if (!doc?.currentVersionId) {
      throw ApplicationFailure.nonRetryable(`Document ${source.documentId} is not ready for extraction`, FailureType.invalidInput);
    }
    const pages = await deps.db.documentPage.findMany({ where: { versionId: doc.currentVersionId }, orderBy: { page: 'asc' } });
    return pages.map((p) => p.text).join('\n\n');
  };
  const sectionText = async (input: SectionInput): Promise<string> => {
    const text = await sourceText(input.tenantId, input.source);
    return input.range ? text.slice(input.range[0], input.range[1]) : (splitSections(text, sectionTokens)[input.section] ?? '');
  };
  /** Small outputs inline; large ones (raw and data) to object storage, with the errors inline for the workflow. */
  const checkIn = async (input: SectionInput, name: string, out: SectionOutput): Promise<SectionOutput> => {
    const key = await checkInIfLarge(deps.store, runObjectKey(input.tenantId, input.runId, `${name}-${input.section}`), { raw: out.raw, data: out.data }, maxInline);
    return key ? { raw: '', data: null, errors: out.errors, resultKey: key } : out;
  };
  const format = (schema: Record<string, unknown>) =>
    deps.jsonSchemaFormat
      ? { response_format: { type: 'json_schema' as const, json_schema: { name: 'extraction', schema, strict: false } } }
      : { response_format: { type: 'json_object' as const } };

  return {
    /**
     * How the source splits into sections, as character ranges. Inline text from runs recorded
     * before claim-check is moved to object storage here, so no section input carries it.
     */
    async planExtraction(input: { tenantId: string; source: Source }): Promise<ExtractionPlan> {
      const text = await sourceText(input.tenantId, input.source);
      let source = input.source;
      if ('text' in source) {
        const textKey = extractTextKey(input.tenantId, source.text);
        await deps.store.put(textKey, Buffer.from(source.text), 'text/plain; charset=utf-8');
        source = { textKey };
      }
      const ranges = splitRanges(text, sectionTokens);
      return { sections: ranges.length, source, ranges };
    },

    async extractSection(input: SectionInput): Promise<SectionOutput> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'extractSection' }, async (entry) => {
        const text = await sectionText(input);
        const reply = await chatCall(deps, entry, buildExtractMessages(text, input.schema, !deps.jsonSchemaFormat, promptSource(deps, input.options)), modelParams(input.options), format(input.schema));
        return checkIn(input, 'extract', parseOutput(input.schema, reply.content));
      });
    },

    /** One repair attempt: the invalid output and its validation errors go back to the model. */
    async repairExtraction(input: SectionInput & { previous: string; previousKey?: string; errors: string[] }): Promise<SectionOutput> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'repairExtraction' }, async (entry) => {
        const text = await sectionText(input);
        const previous = input.previousKey ? (await readJson<{ raw: string }>(deps.store, input.tenantId, input.previousKey)).raw : input.previous;
        const messages = buildRepairMessages(text, input.schema, !deps.jsonSchemaFormat, previous, input.errors, promptSource(deps, input.options));
        const reply = await chatCall(deps, entry, messages, modelParams(input.options), format(input.schema));
        return checkIn(input, 'repair', parseOutput(input.schema, reply.content));
      });
    },

    /**
     * Merges the sections' data and validates it. `parts` (inline data) is how runs recorded before
     * claim-check call it; `sections` may point at stored results. A large merge is stored too.
     */
    async mergeSections(input: {
      schema: Record<string, unknown>;
      parts?: unknown[];
      runId?: string;
      tenantId?: string;
      sections?: ExtractSectionPart[];
    }): Promise<{ data: unknown; errors: string[]; resultKey?: string }> {
      const { runId, tenantId } = input;
      let parts = input.parts ?? [];
      if (input.sections && tenantId !== undefined) {
        parts = await Promise.all(
          input.sections.map(async (p) => (p.resultKey ? (await readJson<{ data: unknown }>(deps.store, tenantId, p.resultKey)).data : p.data)),
        );
      }
      const data = parts.length === 1 ? parts[0] : mergeExtractions(parts);
      const errors = checkedErrors(input.schema, data);
      if (runId === undefined || tenantId === undefined) return { data, errors };
      const resultKey = await checkInIfLarge(deps.store, runObjectKey(tenantId, runId, 'merged'), { data }, maxInline);
      return resultKey ? { data: null, errors, resultKey } : { data, errors };
    },
  };
}
