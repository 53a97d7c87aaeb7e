import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BenchProcesses } from './stack';

/**
 * CPU and memory of the benchmark's processes, from /proc (Linux). `bench` is this process: the
 * load generator, the offline model server and the baseline's Temporal client.
 */
export type ProcessName = 'bench' | keyof BenchProcesses;

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

/** User + system CPU seconds of a process, from /proc/<pid>/stat; null where it can't be read. */
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

/** Resident memory of a process in MiB (VmRSS); null where it can't be read. */
export function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
  } catch {
    return null;
  }
}

function pids(processes: BenchProcesses): Array<[ProcessName, number]> {
  const entries: Array<[ProcessName, number | undefined]> = [['bench', process.pid], ...(Object.entries(processes) as Array<[ProcessName, number | undefined]>)];
  return entries.filter((e): e is [ProcessName, number] => e[1] !== undefined);
}

export interface CpuSample {
  wallSeconds: number;
  /** CPU seconds per process over the window; a process that could not be read is absent. */
  seconds: Partial<Record<ProcessName, number>>;
}

/**
 * Where the CPU went during a measurement: on a 2-core machine the question "what bounds
 * throughput" is mostly "who used the cores". Sum several windows with `addCpu`.
 */
export function startCpuMeter(processes: BenchProcesses): () => CpuSample {
  const wall0 = performance.now();
  const start = pids(processes).map(([name, pid]) => [name, pid, processCpuSeconds(pid)] as const);
  return () => {
    const seconds: Partial<Record<ProcessName, number>> = {};
    for (const [name, pid, before] of start) {
      const after = processCpuSeconds(pid);
      if (before !== null && after !== null) seconds[name] = after - before;
    }
    return { wallSeconds: (performance.now() - wall0) / 1000, seconds };
  };
}

export function addCpu(samples: readonly CpuSample[]): CpuSample {
  const seconds: Partial<Record<ProcessName, number>> = {};
  for (const s of samples) for (const [name, v] of Object.entries(s.seconds) as Array<[ProcessName, number]>) seconds[name] = (seconds[name] ?? 0) + v;
  return { wallSeconds: samples.reduce((sum, s) => sum + s.wallSeconds, 0), seconds };
}

/** % of one core per process (200% is the whole of a 2-core machine). */
export function cpuShare(sample: CpuSample): Partial<Record<ProcessName, number>> {
  return Object.fromEntries(Object.entries(sample.seconds).map(([name, s]) => [name, Math.round((s / sample.wallSeconds) * 100)]));
}

/**
 * CPU milliseconds per run per process: unlike runs/s it barely moves when another process takes
 * the cores, so it is the steadier measure of what a run costs on a shared machine.
 */
export function cpuPerRun(sample: CpuSample, runs: number): Partial<Record<ProcessName, number>> {
  return Object.fromEntries(Object.entries(sample.seconds).map(([name, s]) => [name, Math.round((s / runs) * 10_000) / 10]));
}

/** Sum of the named processes' figures; NaN if any of them was not measured. */
export function sumOf(values: Partial<Record<ProcessName, number>>, names: readonly ProcessName[]): number {
  return Math.round(names.reduce((sum, n) => sum + (values[n] ?? Number.NaN), 0) * 10) / 10;
}

/** Samples resident memory of the given processes every `intervalMs` until stopped; reports each one's peak. */
export function startRssSampler(processes: Partial<Record<ProcessName, number>>, intervalMs = 250): () => Partial<Record<ProcessName, number>> {
  const peak: Partial<Record<ProcessName, number>> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(processes) as Array<[ProcessName, number]>) {
      const rss = rssMiB(pid);
      if (rss !== null) peak[name] = Math.max(peak[name] ?? 0, rss);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return () => {
    clearInterval(timer);
    sample();
    return peak;
  };
}
