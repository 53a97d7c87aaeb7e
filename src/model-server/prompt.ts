import type { ChatMessage } from './schemas';

/**
 * The prompt conventions Keel uses when it talks to a model, read back out of the chat
 * messages. Context arrives as `<document id="CHUNK_ID">text</document>` blocks, the user's
 * question in `<question>…</question>`, and a judge call marks itself with `<score_request/>`
 * and puts the text being judged in `<candidate>…</candidate>`.
 */

export interface ContextDocument {
  readonly id: string;
  readonly text: string;
}

export interface KeelPrompt {
  readonly documents: readonly ContextDocument[];
  readonly question: string;
  /** Set for judge calls: the text to score. */
  readonly scoreCandidate: string | undefined;
  /** Every character of message content, for usage accounting. */
  readonly promptText: string;
}

// Tag names may carry a run's random boundary suffix (`<question-3f9a…>`), which must match on both ends.
const DOCUMENT = /<document(-[0-9a-f]+)?\s+id\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/document\1>/gi;
const QUESTION = /<question(-[0-9a-f]+)?>([\s\S]*?)<\/question\1>/gi;
const CANDIDATE = /<candidate(-[0-9a-f]+)?>([\s\S]*?)<\/candidate\1>/i;
const SCORE_REQUEST = /<score_request\s*\/>/i;

export function messageText(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => ('text' in part && typeof part.text === 'string' ? part.text : ''))
    .filter(Boolean)
    .join('\n');
}

export function readPrompt(messages: readonly ChatMessage[]): KeelPrompt {
  const texts = messages.map((m) => ({ role: m.role, text: messageText(m) }));
  const lastUser = [...texts].reverse().find((m) => m.role === 'user')?.text ?? texts.at(-1)?.text ?? '';

  // Context may be placed in a system message too; assistant turns are the model's own words.
  const documents: ContextDocument[] = [];
  for (const { role, text } of texts) {
    if (role === 'assistant') continue;
    for (const match of text.matchAll(DOCUMENT)) {
      documents.push({ id: match[2] ?? match[3] ?? '', text: decodeEntities(match[4] ?? '').trim() });
    }
  }

  const questions = [...lastUser.matchAll(QUESTION)];
  const tagged = questions.at(-1)?.[2];
  const question = collapse(tagged ?? lastUser.replace(DOCUMENT, ' ').replace(/<[^>]+>/g, ' '));

  const scoreCandidate = SCORE_REQUEST.test(lastUser)
    ? collapse(CANDIDATE.exec(lastUser)?.[2] ?? lastUser.replace(SCORE_REQUEST, ''))
    : undefined;

  return { documents, question, scoreCandidate, promptText: texts.map((t) => t.text).join('\n') };
}

function collapse(text: string): string {
  return decodeEntities(text).replace(/\s+/g, ' ').trim();
}

/** Keel escapes angle brackets in user text so it can't forge tags; quote it back unescaped. */
function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}
