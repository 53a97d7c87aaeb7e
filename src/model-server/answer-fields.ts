import { judgeScore, rankSentences, type Answer } from './answer';
import type { FieldValues } from './json-schema';
import type { KeelPrompt } from './prompt';
import { words } from './text';

/**
 * Fills structured output from the extractive answer: a field's name decides what goes in
 * it, so `{ answer, citations }` gets the quoted answer and its chunk ids, `score` gets the
 * judge score, and any other string field gets the context sentence that best matches its
 * name ("capital" → "Paris is the capital of France.").
 */
const ANSWER = /^(answer|response|reply|summary|output|result|text|content|explanation|reason|reasoning|rationale|justification|description|body|message|completion|final)$/;
const QUESTION = /^(question|query|prompt)$/;
const CITATION = /^(citation|citations|cite|cites|source|sources|chunk|chunks|reference|references|ref|refs)$/;
const QUOTE = /^(quote|quotes|excerpt|excerpts|evidence|passage|passages|snippet|snippets)$/;
const SCORE = /^(score|rating|grade)$/;

export function answerFieldValues(prompt: KeelPrompt, answer: Answer): FieldValues {
  return {
    text(name) {
      if (name === undefined) return answer.text;
      const kind = classify(name);
      if (kind === 'answer') return answer.text;
      if (kind === 'question') return prompt.question;
      if (kind === 'citation') return answer.citations[0];
      if (kind === 'quote') return answer.quotes[0];
      const match = rankSentences(prompt.documents, words(name).join(' '))[0];
      return match && match.score > 0 ? match.text : undefined;
    },
    list(name) {
      const kind = name === undefined ? undefined : classify(name);
      if (kind === 'citation') return answer.citations;
      if (kind === 'quote') return answer.quotes;
      return undefined;
    },
    number(name) {
      if (name !== undefined && classify(name) === 'score' && prompt.scoreCandidate !== undefined) {
        return judgeScore(prompt.scoreCandidate);
      }
      return undefined;
    },
  };
}

type FieldKind = 'answer' | 'question' | 'citation' | 'quote' | 'score' | 'other';

/** Matches on any word of the name, so `finalAnswer`, `source_ids` and `chunkIds` are recognised. */
function classify(name: string): FieldKind {
  const parts = words(name.replace(/([a-z0-9])([A-Z])/g, '$1 $2'));
  const documentId = parts.some((p) => /^docs?|documents?$/.test(p)) && parts.some((p) => /^ids?$/.test(p));
  if (documentId || parts.some((p) => CITATION.test(p))) return 'citation';
  if (parts.some((p) => QUOTE.test(p))) return 'quote';
  if (parts.some((p) => SCORE.test(p))) return 'score';
  if (parts.some((p) => QUESTION.test(p))) return 'question';
  if (parts.some((p) => ANSWER.test(p))) return 'answer';
  return 'other';
}
