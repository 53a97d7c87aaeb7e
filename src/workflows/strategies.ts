import type { AnswerResult, ContextChunk, ModelOptions, PromptEnclosure, StrategyTrace } from '../shared';
import { keelActivities } from './profiles';
import type { Step } from './run-steps';

const llm = keelActivities();

export interface StrategyInput {
  runId: string;
  tenantId: string;
  question: string;
  context: ContextChunk[];
  options: ModelOptions;
  /** Set by the guardrails: every prompt of the run uses its boundary and canary. */
  enclosure?: PromptEnclosure;
}


/** A critique at or above this score ends `refine` early: the draft is good enough. */
export const REFINE_GOOD_ENOUGH = 9;
export const DEFAULT_CANDIDATES = 3;
export const DEFAULT_REFINE_ROUNDS = 2;

/**
 * How an answer is produced from the retrieved context:
 * - `single`: one call.
 * - `best_of_n`: n candidates in parallel, each with its own temperature and prompt variation;
 *   a judge scores each against a rubric; the highest score wins (ties: the earlier candidate).
 * - `refine`: a draft, then up to `rounds` of critique → revision, stopping early once a
 *   critique scores the draft REFINE_GOOD_ENOUGH or more.
 * Every candidate, judgement, critique and revision is its own activity and ledger row.
 */
export function produceAnswer(input: StrategyInput, step: Step): Promise<AnswerResult> {
  const strategy = input.options.strategy ?? 'single';
  // A `then`, not an async function: every workflow promise costs a stack capture (see `step`).
  const produced = strategy === 'best_of_n' ? bestOfN(input, step) : strategy === 'refine' ? refine(input, step) : step('generate', () => llm.generate(input));
  // What retrieval gave the model, with scores, so an answer can be audited against it.
  const retrieved = input.context.map(({ chunkId, documentId, page, score, lexicalRank, vectorRank }) => ({ chunkId, documentId, page, score, lexicalRank, vectorRank }));
  return produced.then((result) => ({ ...result, retrieved }));
}

function candidateTemperature(base: number | undefined, index: number): number {
  return Math.min(2, Number(((base ?? 0.7) + index * 0.2).toFixed(2)));
}

async function bestOfN(input: StrategyInput, step: Step): Promise<AnswerResult> {
  const n = input.options.n ?? DEFAULT_CANDIDATES;
  const temperatures = Array.from({ length: n }, (_, i) => candidateTemperature(input.options.temperature, i));
  const candidates = await step('generateCandidates', () =>
    Promise.all(temperatures.map((temperature, index) => llm.generateCandidate({ ...input, index, options: { ...input.options, temperature } }))),
  );
  const { scores } = await step('judgeCandidates', () =>
    llm.judgeCandidates({ ...input, candidates: candidates.map((c) => c.answer) }),
  );
  let winner = 0;
  scores.forEach((s, i) => {
    if (s > (scores[winner] ?? 0)) winner = i;
  });
  const best = candidates[winner]!;
  const trace: StrategyTrace = {
    name: 'best_of_n',
    candidates: candidates.map((c, index) => ({ index, answer: c.answer, temperature: temperatures[index], score: scores[index] })),
    winner,
  };
  return {
    ...best,
    usage: {
      promptTokens: candidates.reduce((s, c) => s + c.usage.promptTokens, 0),
      completionTokens: candidates.reduce((s, c) => s + c.usage.completionTokens, 0),
    },
    strategy: trace,
  };
}

async function refine(input: StrategyInput, step: Step): Promise<AnswerResult> {
  const maxRounds = input.options.rounds ?? DEFAULT_REFINE_ROUNDS;
  let draft = await step('generate', () => llm.generate(input));
  const rounds: NonNullable<StrategyTrace['rounds']> = [];
  let stoppedBy: StrategyTrace['stoppedBy'] = 'round-limit';
  for (let round = 1; round <= maxRounds; round++) {
    const current = draft;
    const review = await step(`critique#${round}`, () => llm.critiqueDraft({ ...input, draft: current.answer, round }));
    if (review.score >= REFINE_GOOD_ENOUGH) {
      rounds.push({ round, score: review.score, critique: review.critique, revised: false });
      stoppedBy = 'score';
      break;
    }
    draft = await step(`revise#${round}`, () => llm.reviseDraft({ ...input, draft: current.answer, critique: review.critique, round }));
    rounds.push({ round, score: review.score, critique: review.critique, revised: true });
  }
  return { ...draft, strategy: { name: 'refine', rounds, stoppedBy } };
}
