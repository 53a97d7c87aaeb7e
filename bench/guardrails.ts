import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodePayloads } from '../src/guardrails/decode';
import { scanInjection } from '../src/guardrails/injection';
import { checkInput } from '../src/guardrails/input';
import { foldForDetection, sanitize } from '../src/guardrails/normalize';
import { checkOutput } from '../src/guardrails/output';
import { detectPii } from '../src/guardrails/pii';
import { DEFAULT_POLICY, GuardrailPolicy } from '../src/guardrails/policy';
import { matchRules } from '../src/guardrails/rules';
import { scoreClaims } from '../src/guardrails/groundedness';
import type { Section } from './section';

/**
 * Guardrail layers on their own (no stack needed): CPU time per call at 1 KB, 10 KB and 100 KB
 * of realistic text (the handbook-like prose of the repo's README, with PII sprinkled in), and
 * how many 1 KB questions per second the whole input stack checks on one core. The answer
 * section's end-to-end latency is shown next to it for scale.
 */
const SIZES = [1_024, 10_240, 102_400] as const;
const ITERATIONS: Record<number, number> = { 1_024: 40, 10_240: 10, 102_400: 3 };

function corpus(size: number): string {
  const prose = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8').replace(/[`|#*]/g, ' ');
  const pii = ' Contact Maria Schmidt at maria.schmidt@example.com or +44 20 7946 0958, card 4111 1111 1111 1111. ';
  let text = '';
  while (text.length < size) text += prose.slice(text.length % 20_000, (text.length % 20_000) + 900) + pii;
  return text.slice(0, size);
}

function cpuMedianMs(fn: () => unknown, iterations: number): number {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const before = process.cpuUsage();
    fn();
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const noGrounding = GuardrailPolicy.parse({ output: { groundedness: { action: 'off' } } });

export const guardrails: Section = {
  id: 'guardrails',
  title: 'Guardrail layers: CPU time by input size, input-stack throughput',
  async run(ctx) {
    const { earlier } = ctx;
    const progress = (m: string) => ctx.progress(m);
    const layers: Array<[string, (t: string) => unknown]> = [
      ['sanitize (NFKC, invisible/bidi/tag/control)', (t) => sanitize(t)],
      ['decode (base64/hex/percent)', (t) => decodePayloads(t)],
      ['rules (folded text)', (t) => matchRules(foldForDetection(t))],
      ['injection scan (rules + classifier)', (t) => scanInjection(t)],
      ['PII and secrets (incl. names)', (t) => detectPii(t)],
      ['whole input stack (checkInput)', (t) => checkInput(t, GuardrailPolicy.parse({ limits: { maxChars: 1_000_000, maxTokens: 250_000 } }))],
      ['output stack without groundedness', (t) => checkOutput(t, noGrounding, { context: [], entries: [] })],
      ['groundedness vs 10 KB of context', (t) => scoreClaims(t, [corpus(10_240)], 0.5)],
    ];
    const rows: string[][] = [];
    const metrics: Record<string, Record<string, number>> = {};
    for (const [name, fn] of layers) {
      progress(name);
      const cells = SIZES.map((size) => {
        const text = corpus(size);
        const ms = cpuMedianMs(() => fn(text), ITERATIONS[size]!);
        (metrics[name] ??= {})[`${size}B`] = ms;
        return ms < 10 ? ms.toFixed(2) : ms.toFixed(0);
      });
      rows.push([name, ...cells]);
    }
    const question = corpus(1_024);
    let checked = 0;
    const until = performance.now() + 2_000;
    while (performance.now() < until) {
      checkInput(question, DEFAULT_POLICY);
      checked++;
    }
    const perSecond = checked / 2;
    const answer = earlier.find((r) => r.id === 'answer-overhead')?.metrics as { keel?: { latency?: { p50Ms?: number } } } | undefined;
    const runP50 = answer?.keel?.latency?.p50Ms;
    rows.push(['input stack throughput, 1 KB questions, one core', `${perSecond.toFixed(0)}/s`, '', '']);
    if (runP50 !== undefined) rows.push(['for scale: a whole answer run, p50 (ms)', runP50.toFixed(0), '', '']);
    return {
      setup: 'Each layer called in-process on README prose with PII mixed in; median CPU time (user + system) of repeated calls after one warm-up, so time spent descheduled on a shared machine does not count. Person-name detection (compromise) dominates PII time and grows with text length.',
      columns: ['layer', 'CPU ms at 1 KB', '10 KB', '100 KB'],
      rows,
      metrics: { ...metrics, inputStackPerSecond: perSecond },
      failures: { count: 0, samples: [] },
      notes: [],
    };
  },
};
