import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT, TEMPORAL_CLI_VERSION } from '../src/dev/temporal-cli';
import type { BenchOptions } from './options';
import type { SectionReport } from './section';
import type { WorkerSettings } from './stack';

export interface Environment {
  date: string;
  commit: string | null;
  /** Uncommitted changes: the numbers may not belong to `commit` exactly. */
  dirty: boolean | null;
  node: string;
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  temporalSdk: string;
  temporalCli: string;
}

export interface BenchReport {
  schemaVersion: 1;
  environment: Environment;
  options: BenchOptions;
  workerSettings: WorkerSettings | null;
  /**
   * 1/5/15-minute load averages as the run started and ended. Above the core count, other
   * processes were competing for the CPU and absolute numbers are low; the ratios, measured in
   * alternating rounds, suffer less.
   */
  loadAverage: { start: number[]; end: number[] };
  startupMs: number;
  durationMs: number;
  failures: number;
  sections: SectionReport[];
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function loadAverage(): number[] {
  return loadavg().map((l) => Math.round(l * 100) / 100);
}

export function collectEnvironment(): Environment {
  const status = git(['status', '--porcelain']);
  const sdk = JSON.parse(readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as { version: string };
  return {
    date: new Date().toISOString(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: status === null ? null : status.length > 0,
    node: process.version,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    temporalSdk: sdk.version,
    temporalCli: TEMPORAL_CLI_VERSION,
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

function table(columns: string[], rows: string[][]): string {
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `|${columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(report: BenchReport): string {
  const env = report.environment;
  const commit = env.commit ? `\`${env.commit}\`${env.dirty ? ' (with uncommitted changes)' : ''}` : 'none (no commit yet)';
  const out = [
    '# Keel benchmark results',
    '',
    `${env.date} · commit ${commit} · Node ${env.node} · ${env.cores} cores (${env.cpuModel}) · ${env.memoryGiB} GiB · ` +
      `Temporal SDK ${env.temporalSdk}, CLI dev server ${env.temporalCli} · total ${(report.durationMs / 1000).toFixed(1)} s ` +
      `(start-up ${(report.startupMs / 1000).toFixed(1)} s) · load average (1 min) ${report.loadAverage.start[0]} at start, ` +
      `${report.loadAverage.end[0]} at end`,
  ];
  const w = report.workerSettings;
  if (w) {
    out.push(
      '',
      `Processes: Keel API · Keel worker (${w.taskQueues.join(' + ')}, SDK default workflow cache) · baseline worker · Temporal dev server · ` +
        'bench (load generator, offline model server, baseline client) · ' +
        `${w.maxConcurrentActivityTaskExecutions} activity slots per queue · ${w.maxConcurrentWorkflowTaskExecutions} ` +
        `workflow-task slots · keel-llm rate limit ${w.llmMaxPerSecond === null ? 'none' : `${w.llmMaxPerSecond}/s`} · ` +
        `the tenant's result cache ${w.tenantCache}`,
    );
  }
  out.push('', 'How to read these numbers: [docs/benchmarks.md](../../docs/benchmarks.md).');
  for (const s of report.sections) {
    out.push('', `## ${s.title}`, '', s.setup, '');
    if (s.error) out.push(`**The section failed:** ${s.error}`);
    else out.push(table(s.columns, s.rows));
    for (const note of s.notes) out.push('', note);
    if (s.failures.count > 0) {
      out.push('', `**${s.failures.count} failed:**`, '', ...s.failures.samples.map((e) => `- ${e}`));
    }
  }
  out.push('', report.failures === 0 ? 'All runs completed.' : `**${report.failures} runs failed.**`, '');
  return out.join('\n');
}

/** Written beside the result and renamed over it, so a crash never leaves half a file to commit. */
function writeAtomically(path: string, content: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

export function writeResults(report: BenchReport, markdown: string, name = 'latest'): { json: string; md: string } {
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const md = join(dir, `${name}.md`);
  writeAtomically(json, `${JSON.stringify(report, null, 2)}\n`);
  writeAtomically(md, markdown);
  return { json, md };
}
