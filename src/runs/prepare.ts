import type { Config } from '../config';
import type { Db } from '../db/client';
import { checkSchema } from '../activities/extract';
import type { CreateRunRequest } from '../schemas/runs';
import type { ModelOptions, OnFailurePolicy } from '../shared';
import { problems } from '../api/problem';
import type { RunWorkflow } from './start';

export type PreparedWorkflow = Extract<RunWorkflow, { type: 'answer' | 'extract' }>;

/**
 * Turns a validated run request into its workflow's input, checking what needs the database
 * or the tenant's limits. Runs before anything is written, so a rejected request leaves nothing.
 */
export async function prepareWorkflow(
  deps: { db: Db; config: Config },
  req: { tenantId: string; runId: string; body: CreateRunRequest; options: ModelOptions; onFailure: OnFailurePolicy },
): Promise<PreparedWorkflow> {
  const { body, options, tenantId, runId, onFailure } = req;
  if (body.type === 'answer') {
    const errors: Array<{ path: string; message: string }> = [];
    if (options.n !== undefined && options.n > deps.config.KEEL_MAX_CANDIDATES) {
      errors.push({ path: 'options.n', message: `must be at most ${deps.config.KEEL_MAX_CANDIDATES} (this deployment's limit)` });
    }
    if (options.rounds !== undefined && options.rounds > deps.config.KEEL_MAX_REFINE_ROUNDS) {
      errors.push({ path: 'options.rounds', message: `must be at most ${deps.config.KEEL_MAX_REFINE_ROUNDS} (this deployment's limit)` });
    }
    if (errors.length > 0) throw problems.validation(errors, 'body');
    return { type: 'answer', input: { runId, tenantId, question: body.input.question, options, onFailure } };
  }

  const input = body.input;
  let schema = input.schema;
  if (input.schemaName !== undefined) {
    const registered = await deps.db.extractionSchema.findUnique({ where: { tenantId_name: { tenantId, name: input.schemaName } } });
    if (!registered) {
      throw problems.validation([{ path: 'input.schemaName', message: `no schema is registered as "${input.schemaName}"` }], 'body');
    }
    schema = registered.schema as Record<string, unknown>;
  }
  const schemaError = checkSchema(schema);
  if (schemaError) throw problems.validation([{ path: 'input.schema', message: `is not a valid JSON Schema: ${schemaError}` }], 'body');
  if (input.documentId !== undefined) {
    const doc = await deps.db.document.findFirst({ where: { id: input.documentId, tenantId } });
    if (!doc) throw problems.notFound(`Document ${input.documentId}`);
    if (doc.status !== 'ready') {
      throw problems.validation([{ path: 'input.documentId', message: `the document is ${doc.status}, not ready` }], 'body');
    }
  }
  const source = input.documentId !== undefined ? { documentId: input.documentId } : { text: input.text ?? '' };
  return {
    type: 'extract',
    input: { runId, tenantId, source, schema: schema ?? {}, ...(input.schemaName ? { schemaName: input.schemaName } : {}), options, onFailure },
  };
}
