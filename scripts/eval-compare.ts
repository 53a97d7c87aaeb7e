/**
 * `npm run eval:compare -- <evaluation a> <evaluation b> [--base-url URL] [--key KEY]`
 *
 * Metric deltas (b − a), the versions that differ, and the cases that regressed or improved.
 * Exits 1 when any case regressed, so a release pipeline can stop on it.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { compareEvaluations } from '../src/evals/compare';
import type { EvaluationView } from '../src/schemas/evals';

async function fetchEvaluation(baseUrl: string, apiKey: string, id: string): Promise<EvaluationView> {
  const res = await fetch(new URL(`/v1/evals/${encodeURIComponent(id)}`, baseUrl), { headers: { authorization: `Bearer ${apiKey}` } });
  if (res.status !== 200) throw new Error(`GET /v1/evals/${id} answered ${res.status}`);
  return (await res.json()) as EvaluationView;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'base-url': { type: 'string' }, key: { type: 'string' } } });
  const [a, b] = positionals;
  if (!a || !b) throw new Error('usage: npm run eval:compare -- <evaluation a> <evaluation b>');
  const config = loadConfig();
  const apiKey = values.key ?? process.env.KEEL_API_KEY;
  if (!apiKey) throw new Error('no API key: pass --key or set KEEL_API_KEY');
  const baseUrl = values['base-url'] ?? `http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}`;
  const cmp = compareEvaluations(await fetchEvaluation(baseUrl, apiKey, a), await fetchEvaluation(baseUrl, apiKey, b));
  if (!cmp.sameDataset) console.log('note: the two evaluations ran different datasets; only cases with the same id are compared');
  console.table(cmp.metrics.map((m) => ({ metric: m.metric, a: m.a, b: m.b, delta: m.delta })));
  for (const v of cmp.versionChanges) console.log(`changed ${v.what}: ${v.a.join(', ') || '–'} → ${v.b.join(', ') || '–'}`);
  for (const r of cmp.regressed) console.log(`REGRESSED ${r.caseId}: ${JSON.stringify(r.from.scores)} → ${JSON.stringify(r.to.scores)}`);
  for (const r of cmp.improved) console.log(`improved ${r.caseId}: ${JSON.stringify(r.from.scores)} → ${JSON.stringify(r.to.scores)}`);
  console.log(`${cmp.regressed.length} regressed, ${cmp.improved.length} improved`);
  process.exitCode = cmp.regressed.length > 0 ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(`eval:compare failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});
