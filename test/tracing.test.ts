import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { Client } from '@temporalio/client';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { keelDataConverter } from '../src/codec/data-converter';
import { loadConfig } from '../src/config';
import { createLlmClient } from '../src/llm/client';
import { TaskQueue } from '../src/shared';
import { startTracing, tracingExporterFromConfig, type Tracing } from '../src/tracing/tracing';
import { createKeelWorkers } from '../src/worker/worker';
import { eventually, http, startStack, type TestStack } from './support/stack';

describe('OpenTelemetry: one trace from the API through the workflow to its activities', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let tracing: Tracing;
  let server: Server;
  let baseUrl: string;
  let workers: Worker[] = [];
  let running: Array<Promise<void>> = [];
  const exporter = new InMemorySpanExporter();

  before(async () => {
    stack = await startStack({ label: 'tracing', workers: false });
    tracing = startTracing('api', exporter);
    workers = await createKeelWorkers({
      connection: stack.env.nativeConnection,
      namespace: 'default',
      taskQueues: [TaskQueue.workflows, TaskQueue.llm],
      tracing,
      deps: { db: stack.db, llm: createLlmClient(stack.config), prices: stack.config.KEEL_MODEL_PRICES, store: stack.store },
    });
    running = workers.map((w) => w.run());
    const temporal = new Client({
      connection: stack.env.connection,
      dataConverter: keelDataConverter(undefined),
      interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] },
    });
    const app = createApp({ db: stack.db, temporal, config: stack.config, store: stack.store, redis: stack.redis, log: pino({ level: 'silent' }), tracer: tracing.tracer });
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    server?.closeAllConnections();
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await tracing?.shutdown();
    await stack?.stop();
  });

  it('is off by default and on with the standard OTEL_* variables', () => {
    assert.equal(tracingExporterFromConfig(loadConfig({})), undefined);
    assert.equal(tracingExporterFromConfig(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })), 'otlp');
    assert.equal(tracingExporterFromConfig(loadConfig({ OTEL_TRACES_EXPORTER: 'console' })), 'console');
    assert.equal(tracingExporterFromConfig(loadConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })), undefined);
  });

  it('links the HTTP request, the workflow and every activity, continuing the caller’s traceparent', async () => {
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const created = await http<{ id: string }>({ baseUrl, apiKey: stack.apiKey }, 'POST', '/v1/runs', {
      body: { type: 'answer', input: { question: 'Where does this trace go?' } },
      headers: { traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` },
    });
    assert.equal(created.status, 202);
    await eventually(async () => ((await stack.db.run.findUnique({ where: { id: created.body.id } }))?.status === 'completed' ? true : undefined), 'run');

    const names = (spans: ReadableSpan[]) => spans.map((s) => s.name);
    const spans = await eventually(async () => {
      const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === callerTrace);
      const wanted = ['POST /v1/runs', 'StartWorkflow:answer', 'RunWorkflow:answer', 'RunActivity:guardInput', 'RunActivity:generate', 'RunActivity:guardOutput'];
      return wanted.every((n) => names(inTrace).includes(n)) ? inTrace : undefined;
    }, `spans in one trace; have ${JSON.stringify(names(exporter.getFinishedSpans()))}`);
    const requestSpan = spans.find((s) => s.name === 'POST /v1/runs')!;
    assert.equal(requestSpan.attributes['http.response.status_code'], 202);
    // Nothing from the request body or the run id rides on the HTTP span.
    assert.equal(JSON.stringify(requestSpan.attributes).includes('Where does this trace go'), false);
  });
});
