/**
 * Measures the guardrail layers on labelled data: per layer precision, recall, F1,
 * false-positive rate and latency p50/p99.
 *
 *   npm run eval:guardrails [-- extra.jsonl ...]
 *
 * Without arguments: the `eval` splits in ../shared/data (injection, pii, groundedness) and
 * injection/harmful-requests.jsonl (output safety lexicon; its false positives on benign
 * requests are the over-refusal rate). A file given as an argument is recognised by its
 * fields: `label` injection/benign → injection; `spans` → PII; `context` + `response` →
 * groundedness. PII spans count as found when a predicted span of the same type overlaps.
 */
import path from 'node:path';
import { injectionModel } from '../src/guardrails/classifier';
import { readLabelled, sharedDataDir } from '../src/guardrails/eval-data';
import { scoreClaims } from '../src/guardrails/groundedness';
import { isInjection, scanInjection } from '../src/guardrails/injection';
import { checkInput } from '../src/guardrails/input';
import { sanitize } from '../src/guardrails/normalize';
import { harmfulCategories } from '../src/guardrails/output';
import { detectPii, STRUCTURED_PII_TYPES } from '../src/guardrails/pii';
import { DEFAULT_POLICY } from '../src/guardrails/policy';

interface Row {
  layer: string;
  data: string;
  n: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number | null;
  latencies: number[];
  note?: string;
}

const rows: Row[] = [];
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const time = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const v = fn();
  return [v, performance.now() - t0];
};

function evalInjection(file: string): void {
  const data = readLabelled<{ text: string; label: string }>(file).filter((r) => r.label === 'injection' || r.label === 'benign');
  const model = injectionModel();
  const cell = () => ({ tp: 0, fp: 0, fn: 0, tn: 0, lat: [] as number[] });
  const layers = { rules: cell(), classifier: cell(), 'input stack (flag or block)': cell(), 'input stack (block only, default policy)': cell() };
  for (const r of data) {
    const y = r.label === 'injection';
    const [scan, ms] = time(() => {
      const clean = sanitize(r.text);
      return scanInjection(clean.text, clean.hidden, DEFAULT_POLICY.injection.threshold);
    });
    const blocks = checkInput(r.text, { ...DEFAULT_POLICY, pii: { action: 'off' } }).blocked.length > 0;
    const preds = { rules: scan.rules.length > 0, classifier: scan.score >= model.threshold, 'input stack (flag or block)': isInjection(scan, DEFAULT_POLICY.injection.rules), 'input stack (block only, default policy)': blocks };
    for (const [k, p] of Object.entries(preds) as Array<[keyof typeof layers, boolean]>) {
      const c = layers[k];
      if (p && y) c.tp++;
      else if (p) c.fp++;
      else if (y) c.fn++;
      else c.tn++;
      c.lat.push(ms);
    }
  }
  for (const [k, c] of Object.entries(layers)) rows.push({ layer: `injection: ${k}`, data: path.basename(path.dirname(file)) + '/' + path.basename(file), n: data.length, tp: c.tp, fp: c.fp, fn: c.fn, tn: c.tn, latencies: c.lat });
  // The latency budget is for a 4 KB prompt: measure exactly that size.
  const long = data.map((r) => r.text).join(' ').slice(0, 4096);
  const lat: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 300; i++) {
    const text = long.slice(i) + long.slice(0, i);
    const before = process.cpuUsage();
    lat.push(time(() => scanInjection(sanitize(text).text))[1]);
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / 1000);
  }
  // Wall time on a shared machine includes time spent descheduled; CPU time is what the scan costs.
  rows.push({ layer: 'injection: 4 KB prompt (latency only)', data: '4 KB of eval text', n: lat.length, tp: 0, fp: 0, fn: 0, tn: null, latencies: lat, note: `CPU time p50 ${pct(cpu, 50).toFixed(2)} ms, p99 ${pct(cpu, 99).toFixed(2)} ms` });
}

function evalPii(file: string): void {
  const data = readLabelled<{ text: string; spans: Array<{ type: string; start: number; end: number }> }>(file);
  const known = new Set<string>(['CREDENTIAL', 'CREDIT_CARD', 'IBAN_CODE', 'US_SSN', 'UK_NINO', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'PHONE_NUMBER', 'STREET_ADDRESS', 'PERSON']);
  const per = new Map<string, { tp: number; fp: number; fn: number }>();
  const get = (t: string) => per.get(t) ?? (per.set(t, { tp: 0, fp: 0, fn: 0 }), per.get(t)!);
  const lat: number[] = [];
  for (const r of data) {
    const [pred, ms] = time(() => detectPii(r.text));
    lat.push(ms);
    const gold = r.spans.filter((s) => known.has(s.type));
    for (const g of gold) {
      const c = get(g.type);
      if (pred.some((p) => p.type === g.type && p.start < g.end && g.start < p.end)) c.tp++;
      else c.fn++;
    }
    for (const p of pred) if (!gold.some((g) => p.type === g.type && p.start < g.end && g.start < p.end)) get(p.type).fp++;
  }
  const name = path.basename(path.dirname(file)) + '/' + path.basename(file);
  const sum = (types: readonly string[]) => types.reduce((a, t) => { const c = per.get(t); return c ? { tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn } : a; }, { tp: 0, fp: 0, fn: 0 });
  const structured = sum(STRUCTURED_PII_TYPES);
  rows.push({ layer: 'pii: structured types', data: name, n: structured.tp + structured.fn, ...structured, tn: null, latencies: lat });
  for (const [t, c] of [...per.entries()].sort()) rows.push({ layer: `pii: ${t}`, data: name, n: c.tp + c.fn, ...c, tn: null, latencies: [] });
  const all = sum([...per.keys()]);
  rows.push({ layer: 'pii: all detected types', data: name, n: all.tp + all.fn, ...all, tn: null, latencies: lat });
}

function evalGroundedness(file: string): void {
  const data = readLabelled<{ context: string; response: string; label: string }>(file).filter((r) => r.label === 'supported' || r.label === 'unsupported');
  // Positive class: unsupported (what the layer must catch).
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const lat: number[] = [];
  const min = DEFAULT_POLICY.output.groundedness.minSupport;
  for (const r of data) {
    const [claims, ms] = time(() => scoreClaims(r.response, [r.context], min));
    lat.push(ms);
    const flagged = claims.some((x) => !x.supported);
    const y = r.label === 'unsupported';
    if (flagged && y) c.tp++;
    else if (flagged) c.fp++;
    else if (y) c.fn++;
    else c.tn++;
  }
  const tpr = c.tp / (c.tp + c.fn);
  const tnr = c.tn / (c.tn + c.fp);
  rows.push({ layer: 'groundedness (positive: unsupported)', data: path.basename(path.dirname(file)) + '/' + path.basename(file), n: data.length, ...c, latencies: lat, note: `balanced accuracy ${((tpr + tnr) / 2).toFixed(3)}` });
}

function evalHarmful(file: string): void {
  const data = readLabelled<{ text: string; label: string }>(file);
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const lat: number[] = [];
  for (const r of data) {
    const [cats, ms] = time(() => harmfulCategories(r.text));
    lat.push(ms);
    const y = r.label === 'harmful';
    const p = cats.length > 0;
    if (p && y) c.tp++;
    else if (p) c.fp++;
    else if (y) c.fn++;
    else c.tn++;
  }
  rows.push({ layer: 'safety lexicon on requests (FPR = over-refusal)', data: 'injection/harmful-requests.jsonl', n: data.length, ...c, latencies: lat });
}

function evalFile(file: string): void {
  const first = readLabelled<Record<string, unknown>>(file)[0] ?? {};
  if ('spans' in first) evalPii(file);
  else if ('context' in first && 'response' in first) evalGroundedness(file);
  else if (first.label === 'harmful' || (path.basename(file).includes('harmful'))) evalHarmful(file);
  else evalInjection(file);
}

function fmt(x: number, d = 3): string {
  return Number.isFinite(x) ? x.toFixed(d) : '—';
}

function main(): void {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    const dir = sharedDataDir();
    evalInjection(path.join(dir, 'injection', 'eval.jsonl'));
    evalPii(path.join(dir, 'pii', 'eval.jsonl'));
    evalGroundedness(path.join(dir, 'groundedness', 'eval.jsonl'));
    evalHarmful(path.join(dir, 'injection', 'harmful-requests.jsonl'));
  } else for (const f of args) evalFile(path.resolve(f));

  console.log('| layer | data | n | precision | recall | F1 | FPR | p50 ms | p99 ms | note |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const precision = r.tp / (r.tp + r.fp);
    const recall = r.tp / (r.tp + r.fn);
    const f1 = (2 * precision * recall) / (precision + recall);
    const fpr = r.tn === null ? NaN : r.fp / (r.fp + r.tn);
    console.log(`| ${r.layer} | ${r.data} | ${r.n} | ${fmt(precision)} | ${fmt(recall)} | ${fmt(f1)} | ${fmt(fpr)} | ${fmt(pct(r.latencies, 50), 2)} | ${fmt(pct(r.latencies, 99), 2)} | ${r.note ?? ''} |`);
  }
}

main();
