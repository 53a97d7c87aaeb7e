import type { Config } from '../config';
import type { Db } from '../db/client';
import type { ObjectStore } from '../storage';
import { extractTextKey } from '../storage/claim-check';
import { checkSchema, schemaLimitsFromConfig } from '../extraction/schema-guard';
import type { CreateRunRequest } from '../schemas/runs';
import type { CacheControl, ExtractWorkflowInput, ModelOptions, OnFailurePolicy } from '../shared';
import { HttpProblem, problems } from '../api/problem';
import type { RunWorkflow } from './start';

export type PreparedWorkflow = Extract<RunWorkflow, { type: 'answer' | 'extract' }>;

/**
 * Turns a validated run request into its workflow's input, checking what needs the database
 * or the tenant's limits. Runs before anything is written, so a rejected request leaves nothing.
 */
export async function prepareWorkflow(
  deps: { db: Db; config: Config; store: ObjectStore },
  req: { tenantId: string; runId: string; body: CreateRunRequest; options: ModelOptions; onFailure: OnFailurePolicy; callerKeyId: string; cache: CacheControl },
): Promise<PreparedWorkflow> {
  const { body, options, tenantId, runId, onFailure, callerKeyId, cache } = req;
  if (body.type === 'answer') {
    const errors: Array<{ path: string; message: string }> = [];
    if (options.n !== undefined && options.n > deps.config.KEEL_MAX_CANDIDATES) {
      errors.push({ path: 'options.n', message: `must be at most ${deps.config.KEEL_MAX_CANDIDATES} (this deployment's limit)` });
    }
    if (options.rounds !== undefined && options.rounds > deps.config.KEEL_MAX_REFINE_ROUNDS) {
      errors.push({ path: 'options.rounds', message: `must be at most ${deps.config.KEEL_MAX_REFINE_ROUNDS} (this deployment's limit)` });
    }
    if (errors.length > 0) throw problems.unprocessable(errors, 'body');
    return { type: 'answer', input: { runId, tenantId, question: body.input.question, options, onFailure, callerKeyId, cache } };
  }

  // One of four shapes (see ExtractInput); read as one with optional fields.
  const input: { documentId?: string; text?: string; schema?: Record<string, unknown>; schemaName?: string } = body.input;
  let schema = input.schema;
  if (input.schemaName !== undefined) {
    const registered = await deps.db.extractionSchema.findUnique({ where: { tenantId_name: { tenantId, name: input.schemaName } } });
    if (!registered) {
      throw problems.unprocessable([{ path: 'input.schemaName', message: `no schema is registered as "${input.schemaName}"` }], 'body');
    }
    schema = registered.schema as Record<string, unknown>;
  }
  const schemaError = checkSchema(schema, schemaLimitsFromConfig(deps.config));
  if (schemaError) {
    const where = input.schemaName !== undefined ? `input.schemaName (${input.schemaName})${schemaError.path}` : `input.schema${schemaError.path}`;
    throw problems.unprocessable([{ path: where, message: schemaError.message }], 'body');
  }
  if (input.documentId !== undefined) {
    const doc = await deps.db.document.findFirst({ where: { id: input.documentId, tenantId } });
    if (!doc) throw problems.notFound(`Document ${input.documentId}`);
    if (doc.status !== 'ready') {
      throw new HttpProblem(409, 'document-not-ready', 'Conflict', `Document ${input.documentId} is ${doc.status}, not ready; extract from it once its ingest run has finished.`, { documentStatus: doc.status });
    }
  }
  // Claim-check: the text goes to object storage (content-addressed, so a retried request or a
  // refused one leaves at most one object) and the workflow carries only its key.
  let source: ExtractWorkflowInput['source'];
  if (input.documentId !== undefined) source = { documentId: input.documentId };
  else {
    const text = input.text ?? '';
    const textKey = extractTextKey(tenantId, text);
    await deps.store.put(textKey, Buffer.from(text), 'text/plain; charset=utf-8');
    source = { textKey };
  }
  return {
    type: 'extract',
    input: { runId, tenantId, source, schema: schema ?? {}, ...(input.schemaName ? { schemaName: input.schemaName } : {}), options, onFailure, cache },
  };
}
