import type { Context as ActivityContext } from '@temporalio/activity';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { hostname } from 'node:os';
import { BuildLineageInterceptor } from '../activities/build-lineage';
import { buildId } from '../build-info';
import { FAILURE_CONVERTER_PATH, keelDataConverter } from '../codec/data-converter';
import { runOwners } from '../codec/owners';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { ActivityDeps } from '../activities';
import { createActivities } from '../activities';
import { DEFAULT_DOCUMENT_LIMITS } from '../documents/sandbox';
import { StepMetricsInterceptor } from '../metrics/activity-interceptor';
import type { Tracing } from '../tracing/tracing';
import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { TaskQueue } from '../shared';

export interface KeelWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueues: readonly string[];
  deps: ActivityDeps;
  maxConcurrentActivities?: number;
  llmMaxPerSecond?: number;
  /** Encrypts payloads when keys are configured; must match the clients' converter. */
  dataConverter?: DataConverter;
  /** How long running activities may go on after shutdown starts, before they are cancelled. */
  shutdownGraceMs?: number;
  /** OpenTelemetry: spans for workflows and activities, continuing the trace the client started. */
  tracing?: Pick<Tracing, 'tracer' | 'resource' | 'spanProcessor'>;
  /** Tests set 0 so every workflow task replays its history from scratch. */
  maxCachedWorkflows?: number;
  workflowBundle?: WorkflowBundleWithSourceMap;
}

const cachedBundles = new Map<boolean, Promise<WorkflowBundleWithSourceMap>>();
const OTEL_WORKFLOW_INTERCEPTORS = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/**
 * Bundles the workflow code once per process; every worker in it shares the bundle. With tracing,
 * the bundle carries the OpenTelemetry workflow interceptors (a prebuilt bundle ignores them otherwise).
 */
export function workflowBundle(tracing = false): Promise<WorkflowBundleWithSourceMap> {
  let bundle = cachedBundles.get(tracing);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath: require.resolve('../workflows'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      workflowInterceptorModules: tracing ? [OTEL_WORKFLOW_INTERCEPTORS] : [],
      logger: quietBundlerLogger,
    });
    cachedBundles.set(tracing, bundle);
  }
  return bundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};

/**
 * One Temporal worker per task queue this process serves: `keel-workflows` runs workflow code
 * and the light activities, `keel-llm` runs model calls under a queue-wide rate limit,
 * `keel-ingest` runs document work. Every worker registers every activity; the queue an
 * activity is scheduled on decides where it runs.
 */
export async function createKeelWorkers(opts: KeelWorkerOptions): Promise<Worker[]> {
  const activities = createActivities(opts.deps);
  const metrics = opts.deps.metrics;
  const bundle = opts.workflowBundle ?? (await workflowBundle(opts.tracing !== undefined));
  const tracing = opts.tracing;
  const build = opts.deps.buildId ?? buildId();
  const maxActivities = opts.maxConcurrentActivities ?? 100;
  const ingestSlots = opts.deps.ingestLimits?.concurrency ?? DEFAULT_DOCUMENT_LIMITS.concurrency;
  const workers: Worker[] = [];
  for (const queue of opts.taskQueues) {
    const isWorkflowQueue = queue === TaskQueue.workflows;
    const isLlmQueue = queue === TaskQueue.llm;
    workers.push(
      await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: queue,
        // Temporal records the identity on every activity attempt it hands out: with the build in
        // it, the event history names the code that ran each attempt (so does the ledger's lineage).
        identity: `${process.pid}@${hostname()} build ${build}`,
        activities,
        ...(isWorkflowQueue ? { workflowBundle: bundle, maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
        // keel-ingest's activities (extractText, chunkText) each wait for a parsing process: taking
        // more than there are parsing slots would only park them here, heartbeating and holding a
        // ledger row, while they could wait in Temporal's queue for any worker with a free slot.
        maxConcurrentActivityTaskExecutions: queue === TaskQueue.ingest ? Math.min(maxActivities, ingestSlots) : maxActivities,
        // Cancellation reaches a running attempt only in a heartbeat's answer, and the SDK would send
        // heartbeats only every 8 s (0.8 × the profiles' 10 s heartbeat timeout): a cancelled model
        // call could run on, and bill, or an ingest parse on and write its pages, for 8 s after the
        // operator's cancel. Every queue's attempts hear of it within about a second.
        maxHeartbeatThrottleInterval: '1s',
        dataConverter: opts.dataConverter ?? keelDataConverter(undefined),
        shutdownGraceTime: opts.shutdownGraceMs ?? 30_000,
        interceptors: {
          activity: [
            () => ({ inbound: new BuildLineageInterceptor(build) }),
            ...(metrics ? [() => ({ inbound: new StepMetricsInterceptor(metrics) })] : []),
            ...(tracing
              ? [
                  (ctx: ActivityContext) => ({
                    inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
                    outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
                  }),
                ]
              : []),
          ],
        },
        ...(tracing ? { sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } } : {}),
        ...(isLlmQueue && opts.llmMaxPerSecond ? { maxTaskQueueActivitiesPerSecond: opts.llmMaxPerSecond } : {}),
      }),
    );
  }
  return workers;
}

export function alertWebhookFromConfig(config: Config): ActivityDeps['alertWebhook'] {
  return config.KEEL_ALERT_WEBHOOK_URL ? { url: config.KEEL_ALERT_WEBHOOK_URL, secret: config.KEEL_ALERT_WEBHOOK_SECRET } : undefined;
}

/** `db` maps workflows to tenants for payload encryption; without it payloads are sealed with no owner. */
export function workerOptionsFromConfig(
  config: Config,
  db?: Db,
): Pick<KeelWorkerOptions, 'namespace' | 'taskQueues' | 'maxConcurrentActivities' | 'llmMaxPerSecond' | 'dataConverter' | 'shutdownGraceMs'> {
  return {
    dataConverter: keelDataConverter(config.KEEL_PAYLOAD_KEYS, db ? runOwners(db) : undefined),
    shutdownGraceMs: config.KEEL_WORKER_SHUTDOWN_GRACE_MS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueues: config.KEEL_WORKER_TASK_QUEUES,
    maxConcurrentActivities: config.KEEL_WORKER_MAX_CONCURRENT_ACTIVITIES,
    llmMaxPerSecond: config.KEEL_LLM_MAX_PER_SECOND,
  };
}
