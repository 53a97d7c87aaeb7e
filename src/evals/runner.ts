/**
 * Runs a golden dataset through the real pipeline — Keel's HTTP API, so every case is an
 * ordinary run with its ledger, trace and versions — scores each case and stores the
 * evaluation (POST /v1/evals). Talks only HTTP: point it at any running stack.
 */
import type OpenAI from 'openai';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EvalCaseResult, EvaluationView } from '../schemas/evals';
import type { RunTrace } from '../schemas/trace';
import { TERMINAL_STATUSES, type RunStatus } from '../shared';
import { parseDataset, type EvalCase } from './dataset';
import { passed, scoreCase, type CaseOutput } from './scorers';

export interface EvalTarget {
  baseUrl: string;
  apiKey: string;
}

export interface EvalJudge {
  llm: OpenAI;
  model: string;
}

export interface RunEvaluationOptions {
  target: EvalTarget;
  datasetPath: string;
  name?: string;
  /** Cases in flight at once. */
  concurrency?: number;
  /** Grades `expect.judge` rubrics through a model; without it those expectations are not scored. */
  judge?: EvalJudge;
  /** How long one case may take. */
  caseTimeoutMs?: number;
  onProgress?: (done: number, total: number, last: EvalCaseResult) => void;
}

interface RunView {
  id: string;
  status: RunStatus;
  createdAt: string;
  completedAt: string | null;
  result: { answer?: string; data?: unknown; citations?: Array<{ chunkId: string }> } | null;
}

async function api<T>(target: EvalTarget, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const form = body instanceof FormData;
  const res = await fetch(new URL(path, target.baseUrl), {
    method,
    headers: { authorization: `Bearer ${target.apiKey}`, ...(body !== undefined && !form ? { 'content-type': 'application/json' } : {}) },
    body: form ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function waitForRun(target: EvalTarget, id: string, timeoutMs: number): Promise<RunView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await api<RunView>(target, 'GET', `/v1/runs/${id}`);
    if (res.status !== 200) throw new Error(`GET /v1/runs/${id} answered ${res.status}`);
    if (TERMINAL_STATUSES.includes(res.body.status)) return res.body;
    if (Date.now() > until) return res.body;
    await sleep(200);
  }
}

/** Uploads the dataset's documents (the same bytes again are deduplicated) and waits until they are searchable. */
async function uploadDocuments(target: EvalTarget, datasetPath: string, uploads: string[], timeoutMs: number): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const file of uploads) {
    const path = resolve(dirname(datasetPath), file);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(await readFile(path))]), basename(path));
    const res = await api<{ id: string; ingestRunId: string }>(target, 'POST', '/v1/documents', form);
    if (res.status !== 202 && res.status !== 200) throw new Error(`uploading ${file} answered ${res.status}: ${JSON.stringify(res.body)}`);
    const ingest = await waitForRun(target, res.body.ingestRunId, timeoutMs);
    if (ingest.status !== 'completed') throw new Error(`ingesting ${file} ended ${ingest.status}`);
    ids.set(basename(file), res.body.id);
  }
  return ids;
}

async function judgeScore(judge: EvalJudge, rubric: string, question: string, answer: string): Promise<number> {
  const reply = await judge.llm.chat.completions.create({
    model: judge.model,
    temperature: 0,
    max_tokens: 8,
    messages: [
      { role: 'system', content: `Grade the answer in <candidate> to the question in <question> from 1 to 10 against this rubric: ${rubric} Reply with the integer only.` },
      { role: 'user', content: `<question>${question}</question>\n<score_request/>\n<candidate>${answer}</candidate>` },
    ],
  });
  const m = /\b(10|[1-9])\b/.exec(reply.choices[0]?.message.content ?? '');
  return m ? Number(m[1]) / 10 : 0;
}

async function runCase(opts: RunEvaluationOptions, documents: Map<string, string>, c: EvalCase): Promise<EvalCaseResult> {
  const { target } = opts;
  const input =
    c.type === 'answer'
      ? c.input
      : {
          schema: c.input.schema,
          ...(c.input.document ? { documentId: documents.get(basename(c.input.document)) ?? c.input.document } : { text: c.input.text }),
        };
  const started = await api<{ id: string }>(target, 'POST', '/v1/runs', { type: c.type, input, options: c.options ?? {} });
  const none = Object.fromEntries(Object.keys(c.expect).filter((k) => k !== 'judge' || opts.judge).map((k) => [k, 0]));
  if (started.status !== 202 && started.status !== 200) {
    return { caseId: c.id, runId: null, status: `http-${started.status}`, passed: false, scores: none, latencyMs: null, costUsd: null };
  }
  const run = await waitForRun(target, started.body.id, opts.caseTimeoutMs ?? 120_000);
  const latencyMs = run.completedAt ? Date.parse(run.completedAt) - Date.parse(run.createdAt) : null;
  const trace = await api<RunTrace>(target, 'GET', `/v1/runs/${run.id}/trace`);
  const costUsd = trace.status === 200 ? trace.body.totals.costUsd : null;
  if (run.status !== 'completed' || !run.result) {
    return { caseId: c.id, runId: run.id, status: run.status, passed: false, scores: none, latencyMs, costUsd };
  }
  const output: CaseOutput = {
    text: c.type === 'answer' ? (run.result.answer ?? '') : JSON.stringify(run.result.data ?? null),
    data: run.result.data,
    citations: (run.result.citations ?? []).map((x) => x.chunkId),
    retrieved: trace.status === 200 ? trace.body.retrieved.map((x) => x.chunkId) : [],
  };
  const judged = opts.judge && c.expect.judge && c.type === 'answer' ? await judgeScore(opts.judge, c.expect.judge, c.input.question, output.text) : undefined;
  const scores = scoreCase(c.expect, output, judged);
  return { caseId: c.id, runId: run.id, status: run.status, passed: passed(scores), scores, output: c.type === 'answer' ? output.text : output.data, latencyMs, costUsd };
}

export async function runEvaluation(opts: RunEvaluationOptions): Promise<EvaluationView> {
  const datasetPath = resolve(opts.datasetPath);
  const dataset = parseDataset(await readFile(datasetPath, 'utf8'));
  const documents = await uploadDocuments(opts.target, datasetPath, dataset.uploads, opts.caseTimeoutMs ?? 120_000);
  const results: EvalCaseResult[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < dataset.cases.length) {
      const i = next++;
      results[i] = await runCase(opts, documents, dataset.cases[i]!);
      done += 1;
      opts.onProgress?.(done, dataset.cases.length, results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, dataset.cases.length)) }, worker));
  const stored = await api<EvaluationView>(opts.target, 'POST', '/v1/evals', {
    name: opts.name ?? basename(datasetPath),
    dataset: opts.datasetPath,
    datasetHash: dataset.hash,
    cases: results,
  });
  if (stored.status !== 201) throw new Error(`storing the evaluation answered ${stored.status}: ${JSON.stringify(stored.body)}`);
  return stored.body;
}
