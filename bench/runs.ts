import type { Client } from '@temporalio/client';
import { performance } from 'node:perf_hooks';
import { withDeadline } from '../test/support/cleanup';
import { baseline, BaselineQueue } from './baseline-workflows';
import type { BenchStack } from './stack';

export interface TimedRun {
  id: string;
  /** Submit to 202 Accepted (Keel) or to the start call returning (baseline). */
  acceptedMs: number;
  /** Submit to the workflow's completion being observed. */
  totalMs: number;
}

/** A distinct question per run, so a cache fast path (when there is one) can't answer any of them. */
export function benchQuestion(label: string, index: number): string {
  return `Benchmark ${label} question ${index}: what does Keel do with a run?`;
}

export async function submitAnswerRun(stack: BenchStack, question: string): Promise<string> {
  const res = await fetch(`${stack.baseUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'answer', input: { question } }),
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/runs answered ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { id?: unknown };
  if (typeof body.id !== 'string') throw new Error(`POST /v1/runs answered 202 without an id: ${text.slice(0, 300)}`);
  return body.id;
}

/**
 * Waits on the workflow's close event (a long-poll on its history), not by polling
 * GET /v1/runs/:id: polling would add API and database load to the thing being measured.
 */
export async function awaitWorkflow(observer: Client, workflowId: string, timeoutMs: number): Promise<void> {
  await withDeadline(observer.workflow.getHandle(workflowId).result(), timeoutMs, `waiting for workflow ${workflowId}`);
}

/** One answer run through the real API, timed from the POST to the workflow's completion. */
export async function timedKeelRun(stack: BenchStack, question: string, timeoutMs: number): Promise<TimedRun> {
  const started = performance.now();
  const id = await submitAnswerRun(stack, question);
  const acceptedMs = performance.now() - started;
  await awaitWorkflow(stack.observer, id, timeoutMs);
  return { id, acceptedMs, totalMs: performance.now() - started };
}

/** One bare-Temporal run, started with the bench process's Temporal client, timed the same way. */
export async function timedBaselineRun(stack: BenchStack, runId: string, question: string, timeoutMs: number): Promise<TimedRun> {
  const started = performance.now();
  await startBaselineRun(stack, runId, question);
  const acceptedMs = performance.now() - started;
  await awaitWorkflow(stack.observer, runId, timeoutMs);
  return { id: runId, acceptedMs, totalMs: performance.now() - started };
}

/** StartWorkflowExecution of the baseline workflow: the same tenant's corpus, the same model. */
export async function startBaselineRun(stack: BenchStack, runId: string, question: string): Promise<void> {
  await stack.temporal.workflow.start(baseline, {
    taskQueue: BaselineQueue.workflows,
    workflowId: runId,
    args: [{ tenantId: stack.tenantId, question, options: { model: stack.config.llm.model } }],
  });
}

/** Uploads a document through the API; resolves to its id and ingest run. */
export async function uploadDocument(stack: BenchStack, bytes: Buffer, name: string, type: string): Promise<{ id: string; ingestRunId: string }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
  const res = await fetch(`${stack.baseUrl}/v1/documents`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/documents answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as { id: string; ingestRunId: string };
}
