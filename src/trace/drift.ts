/**
 * Drift: per version and UTC day, how the model steps behaved — attempts, latency, cost per
 * attempt, failure rate — where a version is what the ledger says produced the attempt (model
 * configuration + prompt versions). A day's value further than KEEL_DRIFT_SIGMA standard
 * deviations from the trailing KEEL_DRIFT_WINDOW_DAYS days of the same version marks that
 * version drifting on that metric. Run-level rates (failure, block) per day sit beside them.
 * Computed from Postgres on demand (GET /v1/metrics/drift, per tenant) and periodically by the
 * worker for Prometheus (all tenants, no tenant labels), which also logs each new drift.
 */
import { Gauge } from 'prom-client';
import type { Logger } from 'pino';
import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';

export const DRIFT_METRICS = ['latencyMs', 'costUsd', 'failureRate'] as const;
export type DriftMetric = (typeof DRIFT_METRICS)[number];

export interface DriftOptions {
  days: number;
  windowDays: number;
  sigma: number;
}

export interface VersionDay {
  day: string;
  attempts: number;
  latencyMs: number;
  costUsd: number;
  failureRate: number;
}

export interface DriftFinding {
  metric: DriftMetric;
  day: string;
  value: number;
  mean: number;
  stddev: number;
  /** (value − mean) / stddev, stddev floored as described in docs/traceability.md. */
  z: number;
}

export interface VersionSeries {
  /** `<model configuration id> <prompt id[@variant]:version,…>` */
  version: string;
  days: VersionDay[];
  drifting: DriftFinding[];
}

export interface DriftReport {
  windowDays: number;
  sigma: number;
  versions: VersionSeries[];
  runs: Array<{ day: string; runs: number; failureRate: number; blockRate: number }>;
}

const day = (d: Date) => d.toISOString().slice(0, 10);

/**
 * Findings for the newest day of a series against the days before it. A window needs three days;
 * a flat window (stddev 0) is given a floor of 5 % of its mean, so a real jump still counts and
 * noise around a constant does not divide by zero.
 */
export function findDrift(days: readonly VersionDay[], opts: Pick<DriftOptions, 'windowDays' | 'sigma'>): DriftFinding[] {
  const latest = days.at(-1);
  const window = days.slice(0, -1).slice(-opts.windowDays);
  if (!latest || window.length < 3) return [];
  return DRIFT_METRICS.flatMap((metric) => {
    const values = window.map((d) => d[metric]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    const floor = Math.max(sd, Math.abs(mean) * 0.05, 1e-9);
    const z = (latest[metric] - mean) / floor;
    return Math.abs(z) > opts.sigma ? [{ metric, day: latest.day, value: latest[metric], mean: Number(mean.toFixed(6)), stddev: Number(sd.toFixed(6)), z: Number(z.toFixed(2)) }] : [];
  });
}

export async function driftReport(db: Db, opts: DriftOptions, tenantId?: string): Promise<DriftReport> {
  const since = new Date(Date.now() - opts.days * 86_400_000);
  const rows = await db.$queryRaw<Array<{ day: Date; model_config: string | null; prompts: string | null; attempts: bigint; latency_ms: number | null; cost_usd: number | null; failure_rate: number }>>`
    SELECT date_trunc('day', s.started_at AT TIME ZONE 'UTC') AS day,
           s.lineage->'modelConfig'->>'id' AS model_config,
           (SELECT string_agg(p->>'id' || COALESCE('@' || (p->>'variant'), '') || ':' || (p->>'version'), ',' ORDER BY p->>'id')
              FROM jsonb_array_elements(s.lineage->'prompts') AS p) AS prompts,
           count(*) AS attempts,
           avg(s.latency_ms)::float8 AS latency_ms,
           avg(COALESCE(s.cost_usd, 0))::float8 AS cost_usd,
           avg(CASE WHEN s.status = 'failed' THEN 1 ELSE 0 END)::float8 AS failure_rate
    FROM run_step s
    WHERE s.started_at >= ${since} AND jsonb_typeof(s.lineage->'prompts') = 'array'
      AND (${tenantId ?? null}::uuid IS NULL OR s.tenant_id = ${tenantId ?? null}::uuid)
    GROUP BY 1, 2, 3
    ORDER BY 1`;
  const series = new Map<string, VersionDay[]>();
  for (const r of rows) {
    const version = `${r.model_config ?? 'unknown'} ${r.prompts ?? ''}`.trim();
    const list = series.get(version) ?? [];
    list.push({ day: day(r.day), attempts: Number(r.attempts), latencyMs: Number((r.latency_ms ?? 0).toFixed(1)), costUsd: Number((r.cost_usd ?? 0).toFixed(6)), failureRate: Number(r.failure_rate.toFixed(4)) });
    series.set(version, list);
  }
  const runs = await db.$queryRaw<Array<{ day: Date; runs: bigint; failure_rate: number; block_rate: number }>>`
    SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*) AS runs,
           avg(CASE WHEN status = 'failed' THEN 1 ELSE 0 END)::float8 AS failure_rate,
           avg(CASE WHEN status = 'blocked' THEN 1 ELSE 0 END)::float8 AS block_rate
    FROM run
    WHERE created_at >= ${since} AND (${tenantId ?? null}::uuid IS NULL OR tenant_id = ${tenantId ?? null}::uuid)
    GROUP BY 1 ORDER BY 1`;
  return {
    windowDays: opts.windowDays,
    sigma: opts.sigma,
    versions: [...series].map(([version, days]) => ({ version, days, drifting: findDrift(days, opts) })),
    runs: runs.map((r) => ({ day: day(r.day), runs: Number(r.runs), failureRate: Number(r.failure_rate.toFixed(4)), blockRate: Number(r.block_rate.toFixed(4)) })),
  };
}

/**
 * The worker's periodic check: gauges for every version's newest day and its drift flags, and a
 * log event the first time a (version, metric) is found drifting. Returns a stop function.
 */
export function startDriftMonitor(deps: { db: Db; metrics: KeelMetrics; log: Logger }, opts: DriftOptions & { intervalMs: number }): () => void {
  const registers = [deps.metrics.registry];
  const value = new Gauge({ name: 'keel_drift_value', help: "A version's newest daily value of a drift metric", labelNames: ['version', 'metric'] as const, registers });
  const drifting = new Gauge({ name: 'keel_drift_detected', help: '1 when a version is drifting on a metric (beyond KEEL_DRIFT_SIGMA of its trailing window)', labelNames: ['version', 'metric'] as const, registers });
  const reported = new Set<string>();
  const check = async () => {
    const report = await driftReport(deps.db, opts);
    value.reset();
    drifting.reset();
    for (const s of report.versions) {
      const latest = s.days.at(-1);
      for (const metric of DRIFT_METRICS) {
        if (latest) value.set({ version: s.version, metric }, latest[metric]);
        const finding = s.drifting.find((f) => f.metric === metric);
        drifting.set({ version: s.version, metric }, finding ? 1 : 0);
        const key = `${s.version}|${metric}|${finding?.day}`;
        if (finding && !reported.has(key)) {
          reported.add(key);
          deps.log.warn({ event: 'drift', version: s.version, ...finding }, 'a version is drifting');
        }
      }
    }
  };
  const timer = setInterval(() => void check().catch((err: unknown) => deps.log.warn({ err }, 'drift check failed')), opts.intervalMs);
  timer.unref();
  void check().catch((err: unknown) => deps.log.warn({ err }, 'drift check failed'));
  return () => clearInterval(timer);
}
