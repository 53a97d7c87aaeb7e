/**
 * Cheap checks on top of the similarity score. Sentence embeddings place "refund for orders over
 * $50" and "…over $500", or "can I cancel" and "can I not cancel", very close together; a cache
 * must not answer one with the other. A candidate is refused when the two questions differ in
 * their numbers, dates, negation or named entities. Hand-written (no library does this on
 * questions without a model): regular expressions over words, measured in docs/caching.md.
 */

/** Number words that only ever mean a number ("one" and "first" are as often pronouns or ordering). */
const NUMBER_WORDS: Record<string, string> = {
  two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10', eleven: '11', twelve: '12',
  thirteen: '13', fourteen: '14', fifteen: '15', sixteen: '16', seventeen: '17', eighteen: '18', nineteen: '19', twenty: '20',
  thirty: '30', forty: '40', fifty: '50', sixty: '60', seventy: '70', eighty: '80', ninety: '90', hundred: '100', thousand: '1000',
  million: '1000000', billion: '1000000000', dozen: '12',
};

/** Calendar words; "May" and "March" count only capitalised. */
const DATE_WORDS = new Set([
  'january', 'february', 'april', 'june', 'july', 'august', 'september', 'october', 'november', 'december',
  'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday', 'today', 'tomorrow', 'yesterday', 'tonight',
]);
const CAPITALISED_DATE_WORDS = new Set(['May', 'March', 'Jan', 'Feb', 'Mar', 'Apr', 'Jun', 'Jul', 'Aug', 'Sep', 'Sept', 'Oct', 'Nov', 'Dec']);

/** Words that negate what follows; wider cues ("without", "fail") are as often paraphrases of a positive. */
const NEGATIONS = new Set(['not', 'no', 'never', 'cannot', 'neither', 'nor', 'nobody', 'nothing', 'none']);

/** Words that start questions and sentences in capitals without naming anything. */
const NOT_ENTITIES = new Set([
  'i', 'a', 'an', 'the', 'what', 'which', 'who', 'whom', 'whose', 'when', 'where', 'why', 'how', 'is', 'are', 'was', 'were', 'do', 'does',
  'did', 'can', 'could', 'should', 'would', 'will', 'shall', 'may', 'might', 'must', 'has', 'have', 'had', 'please', 'tell', 'explain',
  'describe', 'give', 'list', 'show', 'in', 'on', 'at', 'for', 'to', 'of', 'and', 'or', 'but', 'if', 'it', 'this', 'that', 'these',
  'those', 'my', 'our', 'your', 'we', 'you', 'they', 'he', 'she', 'there', 'here', 'with', 'by', 'from', 'as', 'be', 'any', 'all', 'some',
]);

export interface QuestionFeatures {
  numbers: string[];
  dates: string[];
  negated: boolean;
  entities: string[];
  words: Set<string>;
  /** Words written in capitals (JS, ML, AWS), lower-cased. */
  acronyms: Set<string>;
  /** Lower-case letters and digits only: "Hugging Face" and "HuggingFace" both contain "huggingface". */
  joined: string;
  /** Initials of consecutive words and the capitals inside words: "Machine Learning" → "ml", "JavaScript" → "js". */
  abbreviations: Set<string>;
}

const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}'’.,%$€£-]*/gu;

function tokens(text: string): string[] {
  return [...text.matchAll(TOKEN)].map((m) => m[0].replace(/[.,'’-]+$/u, ''));
}

/** Tokens with whether each opens a sentence, clause or list item (after . ! ? : ; a bullet or a line break). */
function positionedTokens(text: string): Array<{ raw: string; opening: boolean; listMarker: boolean }> {
  return [...text.matchAll(TOKEN)].map((m) => {
    const before = text.slice(0, m.index).replace(/[\s"'“”‘’(`*\-•]+$/u, '');
    const raw = m[0].replace(/[.,'’-]+$/u, '');
    return { raw, opening: before === '' || /[.!?:;\n]$/.test(before), listMarker: /^\d\)/.test(text.slice(m.index, m.index + 2)) };
  });
}

export function questionFeatures(text: string): QuestionFeatures {
  const numbers = new Set<string>();
  const dates = new Set<string>();
  const entities = new Set<string>();
  const words = new Set<string>();
  let negated = false;
  for (const { raw, opening, listMarker } of positionedTokens(text)) {
    const lower = raw.toLowerCase().replace(/[’']/g, '');
    words.add(lower);
    // "1)" numbers a list; it is not a quantity the answer depends on.
    if (!listMarker) for (const n of raw.match(/\d[\d,]*(?:\.\d+)?/g) ?? []) numbers.add(n.replace(/,/g, '').replace(/\.0+$/, ''));
    for (const part of lower.split('-')) if (NUMBER_WORDS[part]) numbers.add(NUMBER_WORDS[part]);
    if (DATE_WORDS.has(lower) || CAPITALISED_DATE_WORDS.has(raw)) dates.add(lower);
    if (NEGATIONS.has(lower) || /n[’']?t$/i.test(raw) && /(?:n[’']t|^(?:cant|wont|dont|doesnt|didnt|isnt|arent|wasnt|werent|shouldnt|wouldnt|couldnt|hasnt|havent|hadnt|mustnt))$/i.test(raw)) negated = true;
    // A name: capitalised inside a sentence, or capitals past the first letter anywhere (PyTorch, AWS, iPhone).
    const capitalised = /^\p{Lu}/u.test(raw);
    const innerCapitals = /^.\S*\p{Lu}/u.test(raw) && /\p{Ll}|^\p{Lu}{2,}/u.test(raw);
    if (!/^\d/.test(raw) && !NOT_ENTITIES.has(lower) && ((capitalised && !opening) || innerCapitals)) entities.add(lower);
  }
  const all = tokens(text);
  const abbreviations = new Set<string>();
  for (const t of all) {
    const capitals = t.replace(/[^\p{Lu}]/gu, '').toLowerCase();
    if (capitals.length >= 2) abbreviations.add(capitals);
  }
  for (let i = 0; i < all.length; i++) {
    let initials = '';
    for (let j = i; j < Math.min(all.length, i + 5); j++) {
      initials += all[j]!.charAt(0).toLowerCase();
      if (initials.length >= 2) abbreviations.add(initials);
    }
  }
  const acronyms = new Set(all.filter((t) => /^\p{Lu}{2,6}s?$/u.test(t)).map((t) => t.toLowerCase()));
  const joined = text.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
  return { numbers: [...numbers].sort(), dates: [...dates].sort(), negated, entities: [...entities].sort(), words, joined, abbreviations, acronyms };
}

/** Whether a question names `entity`: as a word, run together ("HuggingFace"), or abbreviated either way. */
function mentions(q: QuestionFeatures, entity: string): boolean {
  const bare = entity.replace(/[^\p{L}\p{N}]/gu, '');
  if (q.words.has(entity) || (bare.length > 0 && q.joined.includes(bare)) || q.abbreviations.has(bare)) return true;
  // "Machine Learning" where the other says "ML": the name may be spelled out of an acronym there.
  if ([...q.acronyms].some((a) => a.includes(bare.charAt(0)))) return true;
  // "JS" for "JavaScript": the entity is itself an abbreviation of a word in the question.
  return bare.length <= 5 && [...q.words].some((w) => w.length > bare.length && w.startsWith(bare.charAt(0)) && new RegExp(bare.split('').join('.*')).test(w));
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Why `candidate` must not answer `question`, or undefined when nothing cheap tells them apart.
 * Entities are compared loosely: a name in one question must appear as a word in the other
 * (a paraphrase may move "PyTorch" to the start of the sentence, where it no longer looks like one).
 */
export function falseHitReason(question: string, candidate: string): 'number' | 'date' | 'negation' | 'entity' | undefined {
  const a = questionFeatures(question);
  const b = questionFeatures(candidate);
  if (!sameSet(a.numbers, b.numbers)) return 'number';
  if (!sameSet(a.dates.filter((d) => !b.words.has(d)), []) || !sameSet(b.dates.filter((d) => !a.words.has(d)), [])) return 'date';
  if (a.negated !== b.negated) return 'negation';
  if (a.entities.some((e) => !mentions(b, e)) || b.entities.some((e) => !mentions(a, e))) return 'entity';
  return undefined;
}
