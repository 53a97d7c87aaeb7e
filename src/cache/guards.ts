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
  // Ordinals past "first" (which as often orders steps as counts): "the third reminder" is not "the second".
  second: '2nd', third: '3rd', fourth: '4th', fifth: '5th', sixth: '6th', seventh: '7th', eighth: '8th', ninth: '9th', tenth: '10th',
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

/**
 * Words whose swap turns a question into its opposite while the embedding barely moves
 * ("enable"/"disable" two-factor authentication: cosine 0.97). Plus any word against itself with
 * a negating prefix (un-, dis-, de-, non-): "lock"/"unlock", "approve"/"disapprove".
 */
const OPPOSITES: Array<[string, string]> = [
  ['with', 'without'], ['enable', 'disable'], ['include', 'exclude'], ['encrypt', 'decrypt'], ['increase', 'decrease'], ['upload', 'download'], ['import', 'export'],
  ['add', 'remove'], ['start', 'stop'], ['minimum', 'maximum'], ['min', 'max'], ['hire', 'fire'], ['accept', 'reject'], ['approve', 'reject'],
  ['allow', 'deny'], ['open', 'close'], ['before', 'after'], ['above', 'below'], ['more', 'less'], ['more', 'fewer'], ['grant', 'revoke'],
  ['still', 'longer'], ['inbound', 'outbound'], ['input', 'output'], ['buy', 'sell'], ['credit', 'debit'], ['first', 'last'],
  ['highest', 'lowest'], ['earliest', 'latest'], ['push', 'pull'], ['win', 'lose'], ['join', 'leave'], ['enter', 'exit'],
];
const OPPOSITE_OF = new Map<string, string[]>();
for (const [x, y] of OPPOSITES) {
  OPPOSITE_OF.set(x, [...(OPPOSITE_OF.get(x) ?? []), y]);
  OPPOSITE_OF.set(y, [...(OPPOSITE_OF.get(y) ?? []), x]);
}

/** Whether one question says `w` where the other says its opposite (and neither says both). */
function saysOpposite(a: QuestionFeatures, b: QuestionFeatures): boolean {
  for (const w of a.stems) {
    if (b.stems.has(w)) continue;
    const opposites = [...(OPPOSITE_OF.get(w) ?? []), ...['un', 'dis', 'de', 'non'].flatMap((p) => [p + w, w.startsWith(p) ? w.slice(p.length) : ''])];
    if (opposites.some((o) => o.length > 2 && b.stems.has(o) && !a.stems.has(o))) return true;
  }
  return false;
}

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
  /** Code names (`add_column`, `datasets.load_dataset()`, anything in backticks), lower-cased, last dotted part, no "()". */
  identifiers: string[];
  /** Whether some number was written in digits (a number word alone is as often rephrased away: "two sentences", "a pair"). */
  digits: boolean;
  /** Content words (no stop words, negations or numbers), crudely stemmed, for the overlap measure. */
  content: Set<string>;
  /** Every word with its inflection stripped ("enabled" → "enable"), for opposites. */
  stems: Set<string>;
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
  const content = new Set<string>();
  let digits = false;
  let negated = false;
  for (const { raw, opening, listMarker } of positionedTokens(text)) {
    const lower = raw.toLowerCase().replace(/[’']/g, '');
    words.add(lower);
    // "1)" numbers a list; it is not a quantity the answer depends on.
    if (!listMarker) for (const n of raw.match(/\d[\d,]*(?:\.\d+)?/g) ?? []) numbers.add(n.replace(/,/g, '').replace(/\.0+$/, ''));
    if (!listMarker && /\d/.test(raw)) digits = true;
    // Own properties only: "constructor" is not a number.
    for (const part of lower.split('-')) if (Object.hasOwn(NUMBER_WORDS, part)) numbers.add(NUMBER_WORDS[part]!);
    // "Mondays", "January's": the day or month itself.
    const calendar = lower.replace(/(?<=day)s$|s$(?<=(?:january|february|april|june|july|august|september|october|november|december)s)/u, '');
    if (DATE_WORDS.has(calendar) || CAPITALISED_DATE_WORDS.has(raw)) {
      dates.add(calendar);
      words.add(calendar);
    }
    const negation = NEGATIONS.has(lower) || /n[’']?t$/i.test(raw) && /(?:n[’']t|^(?:cant|wont|dont|doesnt|didnt|isnt|arent|wasnt|werent|shouldnt|wouldnt|couldnt|hasnt|havent|hadnt|mustnt))$/i.test(raw);
    if (negation) negated = true;
    if (!NOT_ENTITIES.has(lower) && !/^\d/.test(lower) && !Object.hasOwn(NUMBER_WORDS, lower) && !negation) content.add(stem(lower));
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
  return {
    numbers: [...numbers].sort(), dates: [...dates].sort(), negated, entities: [...entities].sort(), words, joined, abbreviations, acronyms,
    identifiers: codeIdentifiers(text), digits, content, stems: new Set([...words].map(baseForm)),
  };
}

/** "enabled", "enables", "enabling" → "enable"; "uploads" → "upload": enough to look words up in OPPOSITES. */
function baseForm(word: string): string {
  if (OPPOSITE_OF.has(word)) return word;
  for (const [suffix, repl] of [['ing', 'e'], ['ing', ''], ['ed', 'e'], ['ed', ''], ['es', ''], ['s', ''], ['d', '']] as const) {
    if (word.endsWith(suffix)) {
      const base = word.slice(0, -suffix.length) + repl;
      if (OPPOSITE_OF.has(base)) return base;
    }
  }
  return word.replace(/(?:ing|ed|s)$/u, '');
}

/** Crude stemming, enough for "limits"/"limited"/"limiting" to meet; only the overlap measure uses it. */
function stem(word: string): string {
  return word.replace(/(?:ing|ed|es|s|ly)$/u, '').slice(0, 8);
}

/** Backticked text, snake_case names and dotted paths (parts of 2+ characters: "e.g." is not code). */
const CODE = /`([^`]+)`|\b([A-Za-z][\w]*(?:(?:\.[A-Za-z_][\w]+)+|_[\w]+)(?:\(\))?)/gu;

function codeIdentifiers(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(CODE)) {
    const name = (m[1] ?? m[2] ?? '').trim().toLowerCase().replace(/\(.*\)$/u, '');
    // "datasets.Audio" and "Audio" name the same class; the last dotted part is what a paraphrase keeps.
    const last = name.split('.').filter(Boolean).at(-1);
    if (last && /[\p{L}_]/u.test(last)) out.add(last);
  }
  return [...out].sort();
}

/** How much of the shorter question's content the other one repeats (0..1). */
export function contentOverlap(a: QuestionFeatures, b: QuestionFeatures): number {
  const [small, large] = a.content.size <= b.content.size ? [a.content, b.content] : [b.content, a.content];
  if (small.size === 0) return 1;
  let shared = 0;
  for (const w of small) if (large.has(w)) shared++;
  return shared / small.size;
}

/** "INSTALLATIO"/"INSTALLATION", "Pythonic"/"Python": one word is the other up to a letter or a suffix (5+ letters shared). */
function sameStem(a: string, b: string): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length >= 5 && long.startsWith(short.slice(0, Math.max(5, short.length - 1)));
}

/** Whether a question names `entity`: as a word, run together ("HuggingFace"), or abbreviated either way. */
function mentions(q: QuestionFeatures, entity: string): boolean {
  // "datasets.AudioClassification": the class is named by its last part.
  const bare = (entity.split('.').filter(Boolean).at(-1) ?? entity).replace(/[^\p{L}\p{N}]/gu, '');
  if (q.words.has(entity) || (bare.length > 0 && q.joined.includes(bare)) || q.abbreviations.has(bare)) return true;
  if ([...q.words].some((w) => sameStem(w, entity))) return true;
  // "Machine Learning" where the other says "ML": the name may be spelled out of an acronym there.
  if ([...q.acronyms].some((a) => a.includes(bare.charAt(0)))) return true;
  // "JS" for "JavaScript": the entity is itself an abbreviation of a word in the question.
  return bare.length <= 5 && [...q.words].some((w) => w.length > bare.length && w.startsWith(bare.charAt(0)) && new RegExp(bare.split('').join('.*')).test(w));
}

/** A code name must appear in the other question as written (`add_column` is not `append_column`). */
function namesIdentifier(q: QuestionFeatures, id: string): boolean {
  return q.identifiers.includes(id) || q.words.has(id) || [...q.words].some((w) => w.endsWith(`.${id}`) || w.startsWith(`${id}(`));
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Content overlap at or above which two questions count as "the same wording". There a single
 * difference (a flipped negation, a number word added) is the whole difference and the embedding,
 * which scores shared words, cannot be trusted with it. Below it the questions are reworded, and
 * a negation or a quantity may be rephrased ("doesn't have" → "in the absence of", "two
 * sentences" → "a pair of sentences"): then only conflicting values refuse. Tuned on the train
 * split of paraphrases.jsonl (docs/caching.md).
 */
export const SAME_WORDING_OVERLAP = 0.75;

export type FalseHitReason = 'number' | 'date' | 'negation' | 'entity' | 'identifier';

/**
 * Why `candidate` must not answer `question`, or undefined when nothing cheap tells them apart.
 * Entities are compared loosely: a name in one question must appear as a word in the other
 * (a paraphrase may move "PyTorch" to the start of the sentence, where it no longer looks like one).
 */
export function falseHitReason(question: string, candidate: string, sameWordingOverlap = SAME_WORDING_OVERLAP): FalseHitReason | undefined {
  const a = questionFeatures(question);
  const b = questionFeatures(candidate);
  const sameWording = contentOverlap(a, b) >= sameWordingOverlap;
  if (!sameSet(a.numbers, b.numbers)) {
    // Values on both sides that differ, or digits on one side only, always refuse; a number word
    // on one side only refuses when nothing else was reworded.
    const conflict = (a.numbers.length > 0 && b.numbers.length > 0) || a.digits || b.digits;
    if (conflict || sameWording) return 'number';
  }
  if (!sameSet(a.dates.filter((d) => !b.words.has(d)), []) || !sameSet(b.dates.filter((d) => !a.words.has(d)), [])) return 'date';
  if ((a.negated !== b.negated && sameWording) || saysOpposite(a, b) || saysOpposite(b, a)) return 'negation';
  if (a.identifiers.some((id) => !namesIdentifier(b, id)) || b.identifiers.some((id) => !namesIdentifier(a, id))) return 'identifier';
  if (a.entities.some((e) => !mentions(b, e)) || b.entities.some((e) => !mentions(a, e))) return 'entity';
  return undefined;
}
