// Prints the mutation score per module of stryker.config.mjs's MODULES, as a Markdown table,
// from the JSON report of the last run (reports/mutation/mutation.json). `npm run test:mutation`
// runs it after Stryker; the README's table is its output.
import { readFileSync } from 'node:fs';
import { MODULES } from '../../stryker.config.mjs';

const report = JSON.parse(readFileSync('reports/mutation/mutation.json', 'utf8'));
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

const rows = [];
const total = { detected: 0, undetected: 0, ignored: 0 };
for (const name of Object.keys(MODULES)) {
  const row = { detected: 0, undetected: 0, ignored: 0 };
  for (const [file, { mutants }] of Object.entries(report.files)) {
    if (!file.startsWith(`${name}/`)) continue;
    for (const m of mutants) {
      const bucket = DETECTED.has(m.status) ? 'detected' : UNDETECTED.has(m.status) ? 'undetected' : 'ignored';
      row[bucket]++;
      total[bucket]++;
    }
  }
  rows.push([name, row]);
}
rows.push(['**all**', total]);
const score = (r) => (r.detected + r.undetected === 0 ? 'n/a' : `${((100 * r.detected) / (r.detected + r.undetected)).toFixed(1)} %`);
console.log('| module | mutants tested | killed | survived | score | not tested (static, compile errors) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [name, r] of rows) console.log(`| ${name} | ${r.detected + r.undetected} | ${r.detected} | ${r.undetected} | ${score(r)} | ${r.ignored} |`);
