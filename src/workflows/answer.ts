import { ApplicationFailure, CancellationScope, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RecordedPolicy } from '../guardrails/policy';
import { FailureType, type AnswerResult, type AnswerWorkflowInput, type ContextChunk, type GuardrailTrace } from '../shared';
import { keelActivities, keelLocalActivities } from './profiles';
import { recordRunFailure, trackRun } from './run-steps';
import { produceAnswer } from './strategies';

const act = keelActivities();
const local = keelLocalActivities();

/**
 * What each later check is handed of the run's policy: only the sections it reads (PolicySections).
 * An activity's input is not part of what replay compares, so this needs no patch.
 */
function policySections({ policyVersion, version, policy }: RecordedPolicy) {
  return {
    screen: { policyVersion, version, policy: { injection: policy.injection, context: policy.context } },
    output: { policyVersion, version, policy: { output: policy.output } },
  };
}

/** Answer a question: input guardrails, retrieval (screened), the model, output guardrails, store the result. */
export async function answer(input: AnswerWorkflowInput): Promise<AnswerResult> {
  const { runId, tenantId } = input;
  const run = trackRun(input);
  const { setStatus, step } = run;
  // Lean orchestration (docs/lean-orchestration.md): guardInput marks the run running, and the
  // run-row and cache writes are local activities. Runs recorded before it replay the old commands.
  // v2 also looks up the cache and retrieves in one activity; v3 hands that lookup the cache
  // settings guardInput read with the run; v4 lets a passing guardOutput store the result and end
  // the run (no storeResult local activity after it). Each implies the ones before, so a new run
  // records one patch marker, and an older run (no newer marker) replays its own commands.
  const leanV4 = patched('answer-lean-v4');
  const leanV3 = leanV4 || patched('answer-lean-v3');
  const leanV2 = leanV3 || patched('answer-lean-v2');
  const lean = leanV2 || patched('answer-lean-v1');
  const book = lean ? local : act;

  let lookup: Awaited<ReturnType<Activities['cacheLookup']>> | undefined;

  /** Ends the run `blocked`: the reasons name layers and rules, never the text that tripped them. */
  const block = async (stepName: string, reasons: unknown[]): Promise<never> => {
    setStatus('blocked');
    const error = { type: FailureType.guardrailBlocked, message: 'Blocked by guardrails', step: stepName, reasons };
    await book.markRunFinished({ runId, tenantId, status: 'blocked', error });
    throw ApplicationFailure.nonRetryable(error.message, FailureType.guardrailBlocked, { reasons });
  };

  // The start set KeelStatus `running` (src/runs/start.ts); older runs upsert it here as they did.
  if (!lean) setStatus('running');
  try {
    if (!lean) await act.markRunRunning({ runId, tenantId });
    // Guardrails (src/guardrails): runs recorded before them replay the sanitize-only path.
    const guarded = lean || patched('guardrails-v1');
    let question: string;
    let guard: Awaited<ReturnType<Activities['guardInput']>> | undefined;
    if (guarded) {
      guard = await step('guardInput', () => act.guardInput({ runId, tenantId, ...(input.callerKeyId ? { callerKeyId: input.callerKeyId } : {}), ...(lean ? { markRunning: true } : {}), ...(leanV3 ? { cacheSettings: true } : {}) }));
      if (guard.blocked.length > 0) await block('guardInput', guard.blocked);
      question = guard.text;
    } else {
      question = (await step('sanitizeInput', () => act.sanitizeInput({ runId, tenantId, text: input.question }))).text;
    }
    if (question.length === 0) {
      throw ApplicationFailure.nonRetryable('The question is empty after sanitizing', 'InvalidInput');
    }
    const lookUp = () => step('cacheLookup', () => act.cacheLookup({ runId, tenantId, question, options: input.options, control: input.cache }));
    const retrieveContext = () => step('retrieveContext', () => act.retrieveContext({ runId, tenantId, query: question }));
    let retrieved: ContextChunk[] | undefined;
    if (leanV2) {
      const settings = guard?.cacheSettings ? { settings: { row: guard.cacheSettings, policyVersion: guard.policy.policyVersion } } : {};
      const found = await step('retrieveContext', () => act.lookupAndRetrieve({ runId, tenantId, question, options: input.options, control: input.cache, ...settings }));
      // An identical run holds the single-flight lease: wait for it in the cache's own activity.
      lookup = found.lookup.contended ? await lookUp() : found.lookup;
      retrieved = found.context;
    }
    // Runs recorded before the cache existed replay without it (test/fixtures/histories).
    if (lean || patched('answer-cache')) {
      lookup ??= await lookUp();
      const hit = lookup.hit;
      if (hit) {
        const info = { kind: hit.kind, originalRunId: hit.originalRunId, ageSeconds: hit.ageSeconds, ...(hit.similarity !== undefined ? { similarity: hit.similarity } : {}) };
        const cached = { ...hit.result, cache: info };
        await step('storeResult', () => book.storeResult({ runId, tenantId, result: cached, model: cached.model, cache: info }));
        setStatus('completed');
        return cached;
      }
    }
    // Runs recorded before retrieval existed replay without it (test/fixtures/histories).
    let context: ContextChunk[] = retrieved ?? (lean || patched('answer-retrieval') ? await retrieveContext() : []);
    const trace: GuardrailTrace | undefined = guard ? { policyVersion: guard.policy.policyVersion, decisions: [...guard.decisions] } : undefined;
    const policies = guard ? policySections(guard.policy) : undefined;
    if (guard && policies && trace && context.length > 0) {
      const chunks = context;
      const screened = await step('screenContext', () => act.screenContext({ runId, tenantId, chunks, policy: policies.screen }));
      context = context.filter((c) => screened.keep.includes(c.chunkId));
      trace.decisions.push(...screened.decisions);
      if (screened.dropped.length > 0) trace.droppedChunks = screened.dropped;
    }
    const enclosure = guard?.enclosure;
    let result = await produceAnswer({ runId, tenantId, question, context, options: input.options, ...(enclosure ? { enclosure } : {}) }, step);
    const ticket = lookup?.ticket;
    // Since v2 the cache store rides with the step that stores the result (and never fails the run either).
    const cacheStore = ticket && leanV2 ? { question, ticket, runStartedAtMs: workflowInfo().runStartTime.getTime() } : undefined;
    /** Set when guardOutput stored the result and ended the run (v4). */
    let stored = false;
    if (guard && policies && trace && enclosure) {
      const texts = context.map((c) => c.text);
      const checkAnswer = (answer: AnswerResult, retried: boolean, name: string) => {
        // v4: if the check passes, guardOutput stores this result with its checked text and the record so far.
        const { answer: text, guardrails: _record, ...rest } = answer;
        const store = leanV4 ? { store: { result: rest, trace: { ...trace, decisions: [...trace.decisions] }, ...(cacheStore ? { cacheStore } : {}) } } : {};
        return step(name, () =>
          act.guardOutput({
            runId, tenantId, answer: text, context: texts, policy: policies.output, enclosure, retried,
            // A regenerated answer's check may follow a first check that sealed output PII: read the vault then.
            ...(lean && !retried && guard.masked === 0 ? { vault: false, ...(input.callerKeyId ? { callerKeyId: input.callerKeyId } : {}) } : {}),
            ...store,
          }),
        );
      };
      let checked = await checkAnswer(result, false, 'guardOutput');
      trace.decisions.push(...checked.decisions);
      if (checked.regenerate) {
        const hint = `Earlier statements ${checked.unsupportedClaims.map((i) => i + 1).join(', ')} were not supported by the documents. Answer again using only what the documents state, and cite every sentence.`;
        result = { ...(await step('regenerate', () => act.generate({ runId, tenantId, question, context, options: input.options, enclosure, hint }))), retrieved: result.retrieved };
        // Set before the second check, which (v4) stores the record with it.
        trace.regenerated = true;
        checked = await checkAnswer(result, true, 'guardOutput#2');
        trace.decisions.push(...checked.decisions);
      }
      if (checked.blocked.length > 0) await block('guardOutput', checked.blocked);
      // What guardOutput stored (v4), `checkedAnswer` of the record it was handed: the same answer.
      result = { ...result, answer: checked.text, guardrails: trace };
      stored = checked.stored === true;
    }
    const final = result;
    // Only a run that produced its answer and passed its output guardrails gets here: failed,
    // cancelled and blocked runs are never cached. Stored before the run turns `completed`, so a
    // client that saw it complete and asks again is answered from the cache.
    if (ticket && !leanV2) {
      try {
        await book.cacheStore({ runId, tenantId, question, ticket, result: final, ...(lean ? { runStartedAtMs: workflowInfo().runStartTime.getTime() } : {}) });
      } catch (storeErr) {
        // The answer stands whether or not the cache kept it.
        if (isCancellation(storeErr)) throw storeErr;
      }
    }
    if (!stored) await step('storeResult', () => book.storeResult({ runId, tenantId, result: final, model: final.model, ...(cacheStore ? { cacheStore } : {}) }));
    setStatus('completed');
    return final;
  } catch (err) {
    const ticket = lookup?.ticket;
    if (ticket?.leader) {
      await CancellationScope.nonCancellable(() => act.cacheRelease({ runId, ticket }));
    }
    // A blocked run has recorded its own end.
    if (!(err instanceof ApplicationFailure && err.type === FailureType.guardrailBlocked)) {
      await recordRunFailure(err, run, (status, error) => book.markRunFinished({ runId, tenantId, status, error }));
    }
    throw err;
  }
}
