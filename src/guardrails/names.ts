import nlp from 'compromise';

/**
 * Person names, offline. compromise (a maintained, dependency-free English NLP library) tags
 * names it knows; names it does not know (most non-English ones) are found by a documented
 * heuristic: a run of capitalised words (initials and name particles allowed) that compromise
 * does not read as a place, organisation, date or ordinary word, and that is not a sentence's
 * lone first word. Honorifics and cue phrases ("my name is", "Dear") promote any run.
 * Heuristic by design: see docs/guardrails.md for measured recall and precision.
 */
export interface NameSpan {
  start: number;
  end: number;
  detector: 'compromise' | 'name-heuristic';
}

const PARTICLES = new Set(['van', 'von', 'de', 'der', 'den', 'ten', 'ter', 'da', 'di', 'del', 'della', 'la', 'le', 'bin', 'binti', 'al', 'el', 'dos', 'das', 'du', 'af', 'zu', 'y']);
const HONORIFIC = /\b(?:mr|mrs|ms|miss|mx|dr|prof|sir|madam|dame|lord|lady|herr|frau|monsieur|madame|señor|señora|senhor|signor|signora)\.?\s+$/i;
const CUE = /\b(?:name is|named|called|i am|i'm|this is|dear|hi|hello|thanks|thank you|regards|sincerely|from|by|with|to|and|contact|ask|cc|attn|signed|author|patient|employee|customer|client|user|mr|ms)\s*,?\s*$/i;
/** Words that end organisation or place names; a run containing one is not a person. */
const NOT_PERSON = new Set([
  'inc', 'ltd', 'llc', 'corp', 'co', 'company', 'corporation', 'group', 'bank', 'university', 'college', 'school', 'institute', 'hospital', 'clinic', 'orchestra', 'foundation', 'association', 'society', 'club', 'council', 'committee', 'department', 'ministry', 'agency', 'airlines', 'airways', 'motors', 'systems', 'solutions', 'services', 'technologies', 'labs', 'partners', 'holdings', 'international', 'press', 'news', 'times', 'post', 'journal', 'magazine', 'records', 'studios', 'pictures', 'church', 'cathedral', 'museum', 'park', 'river', 'lake', 'mountain', 'mount', 'island', 'islands', 'city', 'county', 'state', 'states', 'republic', 'kingdom', 'street', 'avenue', 'road', 'square', 'station', 'airport', 'bridge', 'center', 'centre', 'hotel', 'restaurant', 'cafe', 'store', 'shop', 'market', 'mall', 'weekly', 'daily', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday', 'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december', 'north', 'south', 'east', 'west', 'new', 'united', 'national', 'royal', 'federal', 'global', 'world', 'the', 'apt', 'suite', 'box', 'i', 'ok', 'okay', 'yes', 'no', 'please', 'dear', 'hi', 'hello', 'thanks',
]);
const WORD = /[\p{Lu}][\p{Ll}'’-]*\p{Ll}|[\p{Lu}]\.?(?=\s)|[\p{Ll}]+/gu;

interface Token {
  text: string;
  start: number;
  end: number;
  tags: Set<string>;
}

function tokensOf(text: string): Token[] {
  const terms = nlp(text).terms().json({ offset: true }) as Array<{ terms: Array<{ text: string; tags: string[]; offset: { start: number; length: number } }> }>;
  const byStart = new Map<number, Set<string>>();
  for (const t of terms) for (const term of t.terms) byStart.set(term.offset.start, new Set(term.tags));
  return [...text.matchAll(WORD)].map((m) => ({ text: m[0], start: m.index, end: m.index + m[0].length, tags: byStart.get(m.index) ?? new Set() }));
}

const capitalised = (t: Token) => /^\p{Lu}/u.test(t.text);
const NAME_TAGS = ['Person', 'FirstName', 'LastName', 'MaleName', 'FemaleName', 'Honorific'];
const OTHER_TAGS = ['Place', 'Country', 'City', 'Region', 'Organization', 'Date', 'Month', 'WeekDay', 'Pronoun', 'Determiner', 'Preposition', 'Conjunction', 'QuestionWord', 'Auxiliary', 'Copula', 'Modal', 'Adverb'];

function isSentenceStart(text: string, start: number): boolean {
  const before = text.slice(0, start).trimEnd();
  return before === '' || /[.!?:;"“(\n]$/.test(before);
}

export function findPersonNames(text: string): NameSpan[] {
  const tokens = tokensOf(text);
  const out: NameSpan[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!capitalised(tokens[i]!)) continue;
    let j = i;
    while (j + 1 < tokens.length) {
      const next = tokens[j + 1]!;
      const gap = text.slice(tokens[j]!.end, next.start);
      if (!/^[ \t]+$|^\.[ \t]+$/.test(gap)) break;
      if (capitalised(next) || (PARTICLES.has(next.text) && j + 2 < tokens.length && capitalised(tokens[j + 2]!))) j++;
      else break;
    }
    let run = tokens.slice(i, j + 1);
    i = j;
    // "Contact Maria Schmidt": a capitalised verb or function word before a name is not part of it.
    while (run.length > 1 && !NAME_TAGS.some((tag) => run[0]!.tags.has(tag)) && [...run[0]!.tags].some((t) => ['Verb', 'Imperative', 'Adjective', 'Determiner', 'Preposition', 'Conjunction', 'Pronoun', 'Adverb', 'QuestionWord'].includes(t))) run = run.slice(1);
    const words = run.map((t) => t.text.replace(/\.$/, '').toLowerCase());
    if (words.some((w) => NOT_PERSON.has(w))) continue;
    const before = text.slice(Math.max(0, run[0]!.start - 30), run[0]!.start);
    const named = run.some((t) => NAME_TAGS.some((tag) => t.tags.has(tag)));
    const other = run.some((t) => OTHER_TAGS.some((tag) => t.tags.has(tag)) && !NAME_TAGS.some((tag) => t.tags.has(tag)));
    const cued = HONORIFIC.test(before) || CUE.test(before);
    const ordinaryWord = run.length === 1 && [...run[0]!.tags].some((t) => ['Verb', 'Adjective', 'Plural', 'Uncountable', 'Infinitive', 'Gerund'].includes(t)) && !named;
    const loneFirstWord = run.length === 1 && isSentenceStart(text, run[0]!.start);
    let accept: NameSpan['detector'] | undefined;
    if (named && !other) accept = 'compromise';
    else if (cued && !other && !ordinaryWord) accept = 'name-heuristic';
    else if (!other && !ordinaryWord && !loneFirstWord && run.length >= 2 && run.length <= 4) accept = 'name-heuristic';
    if (accept) out.push({ start: run[0]!.start, end: run.at(-1)!.end, detector: accept });
  }
  return out;
}
