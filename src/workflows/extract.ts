import { ApplicationFailure, isCancellation, patched } from '@temporalio/workflow';
import type { CacheTicket } from '../cache/result-cache';
import { FailureType, type CacheHitInfo, type ExtractResult, type ExtractSectionPart, type ExtractWorkflowInput } from '../shared';
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
    const plan = await step('planExtraction', () => act.planExtraction({ tenantId, source }));
    const { sections } = plan;
    // The same source text and schema extracted before: answered from the cache, no model call.
    // Runs recorded before the extract cache replay without it (test/fixtures/histories).
    let ticket: CacheTicket | undefined;
    if (patched('extract-cache')) {
      const lookup = await step('cacheLookup', () =>
        act.extractCacheLookup({ runId, tenantId, source: plan.source ?? source, schema, options, ...(input.cache ? { control: input.cache } : {}) }),
      );
      if (lookup.hit) {
        const info: CacheHitInfo = { kind: 'exact', originalRunId: lookup.hit.originalRunId, ageSeconds: lookup.hit.ageSeconds };
        const cached: ExtractResult = { ...lookup.hit.result, cache: info };
        await step('storeResult', () => act.storeResult({ runId, tenantId, result: cached, model: cached.model, cache: info }));
        setStatus('completed');
        return cached;
      }
      ticket = lookup.ticket;
    }
    // Claim-check: sections read the text by key and range, large results travel as keys. Runs
    // recorded before (their plan has no ranges) go on passing the source and inline data.
    const claimCheck = patched('extract-claim-check');
    const ranges = claimCheck ? plan.ranges : undefined;
    let repaired = false;
    const parts = await step('extractSections', () =>
      Promise.all(
        Array.from({ length: sections }, async (_, section): Promise<unknown> => {
          const base = ranges
            ? { runId, tenantId, source: plan.source ?? source, section, range: ranges[section], schema, options }
            : { runId, tenantId, source, section, schema, options };
          const first = await act.extractSection(base);
          let final = first;
          if (first.errors.length > 0) {
            repaired = true;
            final = await act.repairExtraction({ ...base, previous: first.raw, ...(first.resultKey ? { previousKey: first.resultKey } : {}), errors: first.errors });
            if (final.errors.length > 0) {
              throw ApplicationFailure.nonRetryable(
                `The model's output does not match the schema after one repair attempt: ${final.errors.join('; ')}`,
                FailureType.extractionInvalid,
                { errors: final.errors, section },
              );
            }
          }
          return ranges ? ({ data: final.data, ...(final.resultKey ? { resultKey: final.resultKey } : {}) } satisfies ExtractSectionPart) : final.data;
        }),
      ),
    );
    const merged = await step('mergeSections', () =>
      act.mergeSections(ranges ? { schema, runId, tenantId, sections: parts as ExtractSectionPart[] } : { schema, parts }),
    );
    if (merged.errors.length > 0) {
      throw ApplicationFailure.nonRetryable(`The merged sections do not match the schema: ${merged.errors.join('; ')}`, FailureType.extractionInvalid, { errors: merged.errors });
    }
    const result: ExtractResult = { data: merged.data, sections, repaired, model: options.model, ...(merged.resultKey ? { resultKey: merged.resultKey } : {}) };
    if (ticket) {
      try {
        await act.extractCacheStore({ runId, tenantId, ticket, result });
      } catch (storeErr) {
        // The extraction stands whether or not the cache kept it.
        if (isCancellation(storeErr)) throw storeErr;
      }
    }
    await step('storeResult', () => act.storeResult({ runId, tenantId, result, model: options.model, ...(merged.resultKey ? { resultKey: merged.resultKey } : {}) }));
    setStatus('completed');
    return result;
  } catch (err) {
    await recordRunFailure(err, run, (status, error) => act.markRunFinished({ runId, tenantId, status, error }));
    throw err;
  }
}
