import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface CpuShare {
  /** This process: API, workers, model server and load generator, in % of one core. */
  benchProcessPct: number;
  /** The Temporal dev server child, in % of one core; null where /proc isn't available. */
  temporalServerPct: number | null;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds of a process, from /proc/<pid>/stat (Linux). */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/**
 * Where the CPU went during a measurement: on a 2-core machine the question "what bounds
 * throughput" is mostly "who used the cores". Sum several phases with `addCpu`.
 */
export function startCpuMeter(temporalServerPid: number | undefined): () => CpuSample {
  const wall0 = performance.now();
  const self0 = process.cpuUsage();
  const server0 = temporalServerPid === undefined ? null : processCpuSeconds(temporalServerPid);
  return () => {
    const self = process.cpuUsage(self0);
    const server1 = temporalServerPid === undefined ? null : processCpuSeconds(temporalServerPid);
    return {
      wallSeconds: (performance.now() - wall0) / 1000,
      benchSeconds: (self.user + self.system) / 1e6,
      serverSeconds: server0 === null || server1 === null ? null : server1 - server0,
    };
  };
}

export interface CpuSample {
  wallSeconds: number;
  benchSeconds: number;
  serverSeconds: number | null;
}

export function addCpu(samples: readonly CpuSample[]): CpuSample {
  return {
    wallSeconds: samples.reduce((s, c) => s + c.wallSeconds, 0),
    benchSeconds: samples.reduce((s, c) => s + c.benchSeconds, 0),
    serverSeconds: samples.some((c) => c.serverSeconds === null) ? null : samples.reduce((s, c) => s + (c.serverSeconds ?? 0), 0),
  };
}

export function cpuShare(sample: CpuSample): CpuShare {
  const pct = (seconds: number) => Math.round((seconds / sample.wallSeconds) * 100);
  return {
    benchProcessPct: pct(sample.benchSeconds),
    temporalServerPct: sample.serverSeconds === null ? null : pct(sample.serverSeconds),
  };
}

export function formatCpuShare(share: CpuShare): string {
  return `${share.benchProcessPct}% / ${share.temporalServerPct === null ? 'n/a' : `${share.temporalServerPct}%`}`;
}

export interface CpuPerRun {
  benchProcessMs: number;
  temporalServerMs: number | null;
  /** Both together; with the server unmeasured, the bench process alone. */
  totalMs: number;
}

/**
 * CPU time per run: unlike runs/s it barely moves when another process takes the cores, so it
 * is the steadier measure of what a run costs on a shared machine.
 */
export function cpuPerRun(sample: CpuSample, runs: number): CpuPerRun {
  const ms = (seconds: number) => Math.round((seconds / runs) * 10_000) / 10;
  return {
    benchProcessMs: ms(sample.benchSeconds),
    temporalServerMs: sample.serverSeconds === null ? null : ms(sample.serverSeconds),
    totalMs: ms(sample.benchSeconds + (sample.serverSeconds ?? 0)),
  };
}
