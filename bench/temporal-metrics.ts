/**
 * Counts of the work the Temporal server did, read from its Prometheus endpoint: persistence
 * requests (history, matching and visibility stores) and frontend RPCs. Like Postgres transactions,
 * they are exact counts that a busy machine cannot blur, unlike the server's CPU time.
 */

/** Counter totals by `family:operation`, e.g. `persistence:UpdateWorkflowExecution`. */
export type TemporalCounts = Record<string, number>;

/**
 * Counter families read, by the name they get here, and a scale. The latency sums (wall time in
 * ms, so waits for SQLite's lock count too) are for finding what costs the server: not counts.
 */
const FAMILIES: Record<string, { name: string; scale: number }> = {
  persistence_requests: { name: 'persistence', scale: 1 },
  visibility_persistence_requests: { name: 'visibility', scale: 1 },
  service_requests: { name: 'frontend', scale: 1 },
  persistence_latency_sum: { name: 'persistence-ms', scale: 1000 },
  visibility_persistence_latency_sum: { name: 'visibility-ms', scale: 1000 },
  service_latency_sum: { name: 'frontend-ms', scale: 1000 },
};

/** One reading of the counters; only the `default` namespace's persistence and the frontend's RPCs count. */
export async function readTemporalCounts(metricsUrl: string): Promise<TemporalCounts> {
  const text = await (await fetch(metricsUrl)).text();
  const counts: TemporalCounts = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} ([0-9.e+]+)$/.exec(line);
    if (!m) continue;
    const read = FAMILIES[m[1]!];
    if (!read) continue;
    const family = read.name;
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    if (family.startsWith('persistence') && labels.namespace !== 'default') continue;
    if (family.startsWith('frontend') && (labels.service_name !== 'frontend' || labels.namespace !== 'default')) continue;
    const key = `${family}:${labels.operation}`;
    counts[key] = (counts[key] ?? 0) + Number(m[3]) * read.scale;
  }
  return counts;
}

/** What happened between two readings, per run; operations that did not move are left out. */
export function countsPerRun(before: TemporalCounts, after: TemporalCounts, runs: number): TemporalCounts {
  const out: TemporalCounts = {};
  for (const [key, n] of Object.entries(after)) {
    const d = n - (before[key] ?? 0);
    if (d > 0) out[key] = Math.round((d / Math.max(1, runs)) * 100) / 100;
  }
  return out;
}

/** Sums per family (`persistence`, `visibility`, `frontend`). */
export function familyTotals(perRun: TemporalCounts): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const [key, n] of Object.entries(perRun)) {
    const family = key.split(':')[0]!;
    totals[family] = Math.round(((totals[family] ?? 0) + n) * 100) / 100;
  }
  return totals;
}

/** Adds up readings' differences, so rounds that alternate with the other side can be summed. */
export function addCounts(into: TemporalCounts, before: TemporalCounts, after: TemporalCounts): void {
  for (const [key, n] of Object.entries(after)) {
    const d = n - (before[key] ?? 0);
    if (d > 0) into[key] = (into[key] ?? 0) + d;
  }
}
