import { ApplicationFailure } from '@temporalio/workflow';
import { FailureType, type ExtractResult, type ExtractWorkflowInput } from '../shared';
import { keelActivities } from './profiles';
import { recordRunFailure, trackRun } from './run-steps';

const act = keelActivities();

/**
 * Structured extraction: each section of the source is extracted (in parallel) and validated
 * against the schema; an invalid section gets one repair attempt with its validation errors;
 * the sections are merged and the merge validated. Output that is still invalid fails the run
 * with the errors.
 */
export async function extract(input: ExtractWorkflowInput): Promise<ExtractResult> {
  const { runId, tenantId, schema, options, source } = input;
  const run = trackRun(input);
  const { setStatus, step } = run;
  setStatus('running');
  try {
    await act.markRunRunning({ runId, tenantId });
    const { sections } = await step('planExtraction', () => act.planExtraction({ tenantId, source }));
    let repaired = false;
    const parts = await step('extractSections', () =>
      Promise.all(
        Array.from({ length: sections }, async (_, section) => {
          const base = { runId, tenantId, source, section, schema, options };
          const first = await act.extractSection(base);
          if (first.errors.length === 0) return first.data;
          repaired = true;
          const second = await act.repairExtraction({ ...base, previous: first.raw, errors: first.errors });
          if (second.errors.length > 0) {
            throw ApplicationFailure.nonRetryable(
              `The model's output does not match the schema after one repair attempt: ${second.errors.join('; ')}`,
              FailureType.extractionInvalid,
              { errors: second.errors, section },
            );
          }
          return second.data;
        }),
      ),
    );
    const merged = await step('mergeSections', () => act.mergeSections({ schema, parts }));
    if (merged.errors.length > 0) {
      throw ApplicationFailure.nonRetryable(`The merged sections do not match the schema: ${merged.errors.join('; ')}`, FailureType.extractionInvalid, { errors: merged.errors });
    }
    const result: ExtractResult = { data: merged.data, sections, repaired, model: options.model };
    await step('storeResult', () => act.storeResult({ runId, tenantId, result, model: options.model }));
    setStatus('completed');
    return result;
  } catch (err) {
    await recordRunFailure(err, run, (status, error) => act.markRunFinished({ runId, tenantId, status, error }));
    throw err;
  }
}
