/**
 * `npm run bench`: starts its own stack (Temporal dev server, a fresh Postgres database, the
 * offline model server, Keel's workers and API, all on free ports), runs every section against
 * it, prints a markdown report, writes bench/results/latest.{json,md} and tears everything down.
 * Exits 1 if any run failed.
 */
import { performance } from 'node:perf_hooks';
import { answerModelRatio, ingestion } from './ai-pipeline';
import { answerOverhead } from './answer-overhead';
import { guardrails } from './guardrails';
import { burst } from './burst';
import { cache } from './cache';
import { goals } from './goals';
import { soak } from './soak';
import { Cleanup } from '../test/support/cleanup';
import { describeError } from './load';
import { loadBenchOptions } from './options';
import { collectEnvironment, loadAverage, renderMarkdown, writeResults, type BenchReport } from './report';
import type { Section, SectionReport } from './section';
import { startBenchStack, type BenchStack } from './stack';

// The guardrails section runs last: its CPU-bound loops block this process's event loop for
// seconds, and an HTTP section after it reused keep-alive sockets the API had closed meanwhile.
/** `npm run bench -- --soak` runs only the soak (10 minutes, not in CI) and writes bench/results/soak.{json,md}. */
const soakOnly = process.argv.includes('--soak');
const allSections: Section[] = soakOnly ? [soak] : [answerOverhead, burst, goals, ingestion, answerModelRatio, cache, guardrails];
/** BENCH_SECTIONS=answer-overhead,burst: a subset, for profiling (BENCH_NODE_OPTIONS=--cpu-prof); the numbers are then partial. */
const only = process.env.BENCH_SECTIONS?.split(',').map((s) => s.trim());
const sections = only ? allSections.filter((s) => only.includes(s.id)) : allSections;

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

async function runSection(
  section: Section,
  stack: BenchStack,
  options: ReturnType<typeof loadBenchOptions>,
  earlier: readonly SectionReport[],
): Promise<SectionReport> {
  progress(`— ${section.title}`);
  const started = performance.now();
  try {
    const outcome = await section.run({ stack, options, earlier, progress: (m) => progress(`  ${m}`) });
    return { id: section.id, title: section.title, durationMs: Math.round(performance.now() - started), ...outcome };
  } catch (err) {
    // One broken section still lets the others report; the exit code carries the failure.
    return {
      id: section.id,
      title: section.title,
      durationMs: Math.round(performance.now() - started),
      error: describeError(err),
      setup: '',
      columns: [],
      rows: [],
      metrics: {},
      failures: { count: 1, samples: [describeError(err)] },
      notes: [],
    };
  }
}

async function main(): Promise<number> {
  const options = loadBenchOptions();
  const environment = collectEnvironment();
  const loadAtStart = loadAverage();
  const cleanup = new Cleanup();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping everything the benchmark started`);
      void cleanup.run().finally(() => process.exit(130));
    });
  }

  const started = performance.now();
  const reports: SectionReport[] = [];
  let stack: BenchStack | undefined;
  let startupMs: number | undefined;
  try {
    progress('starting Temporal dev server, Postgres database, model server, workers and API');
    stack = await startBenchStack(cleanup, options);
    startupMs = Math.round(performance.now() - started);
    progress(`stack up in ${(startupMs / 1000).toFixed(1)} s`);
    for (const section of sections) reports.push(await runSection(section, stack, options, [...reports]));
  } finally {
    progress('stopping the stack');
    await cleanup.run();
  }

  const report: BenchReport = {
    schemaVersion: 1,
    environment,
    options,
    workerSettings: stack?.workerSettings ?? null,
    loadAverage: { start: loadAtStart, end: loadAverage() },
    startupMs: startupMs ?? 0,
    durationMs: Math.round(performance.now() - started),
    failures: reports.reduce((sum, r) => sum + r.failures.count, 0),
    sections: reports,
  };
  const markdown = renderMarkdown(report);
  process.stdout.write(markdown);
  const written = writeResults(report, markdown, soakOnly ? 'soak' : 'latest');
  progress(`wrote ${written.json} and ${written.md} in ${(report.durationMs / 1000).toFixed(1)} s`);
  if (report.failures > 0) progress(`${report.failures} runs failed`);
  return report.failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('bench: failed before any result could be written:', err);
    process.exit(1);
  },
);
