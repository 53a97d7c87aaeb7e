import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BenchProcesses } from './stack';

/**
 * CPU and memory of the benchmark's processes, from /proc (Linux). `bench` is this process: the
 * load generator, the offline model server and the baseline's Temporal client. `postgres` and
 * `redis` are the shared services both sides use (every process of that name: a Postgres backend
 * per connection), and `machine` is every process on the machine (/proc/stat): the goal's CPU per
 * run counts neither, but on two cores they take from what the runs could have had.
 */
export type ProcessName = 'bench' | keyof BenchProcesses | ServiceName | 'machine';
type ServiceName = 'postgres' | 'redis';
const SERVICES = new Map<string, ServiceName>([['postgres', 'postgres'], ['redis-server', 'redis']]);

/** The shared services' processes, by name, found by their command name in /proc. */
function servicePids(): Array<[ServiceName, number]> {
  const found: Array<[ServiceName, number]> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const service = SERVICES.get(readFileSync(`/proc/${entry}/comm`, 'utf8').trim());
      if (service) found.push([service, Number(entry)]);
    } catch {
      // A process that ended between the listing and the read.
    }
  }
  return found;
}

/** CPU seconds the whole machine has spent (all cores, every state but idle and I/O wait), from /proc/stat. */
function machineCpuSeconds(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
    return (user + nice + system + irq + softirq + steal) / ticksPerSecond();
  } catch {
    return null;
  }
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

/**
 * A process's system calls and context switches so far: `syscr`/`syscw` from /proc/<pid>/io (the
 * whole process), switches summed over its threads (/proc/<pid>/task/<tid>/status). Counts, not
 * times: a Postgres or Redis round trip, a gRPC call or a log line is a write whatever else the
 * machine is doing. Null where they can't be read.
 */
function processIo(pid: number): IoCounts | null {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? Number.NaN);
    let switches = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) switches += Number(m[1]);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    return { reads: field('syscr'), writes: field('syscw'), switches };
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

export interface IoCounts {
  /** Read-class system calls (read, readv, recvmsg on a socket…). */
  reads: number;
  /** Write-class system calls: each statement, Redis command, RPC or log line sent is at least one. */
  writes: number;
  /** Voluntary and involuntary context switches, all threads. */
  switches: number;
}

export interface CpuSample {
  wallSeconds: number;
  /** CPU seconds per process over the window; a process that could not be read is absent. */
  seconds: Partial<Record<ProcessName, number>>;
  /** System calls and context switches per process over the window. */
  io: Partial<Record<ProcessName, IoCounts>>;
}

/**
 * Where the CPU went during a measurement: on a 2-core machine the question "what bounds
 * throughput" is mostly "who used the cores". Sum several windows with `addCpu`.
 */
export function startCpuMeter(processes: BenchProcesses): () => CpuSample {
  const wall0 = performance.now();
  const machine0 = machineCpuSeconds();
  const start = pids(processes).map(([name, pid]) => [name, pid, processCpuSeconds(pid), processIo(pid)] as const);
  // A service process that starts or ends within the window (a new Postgres connection) is left out.
  const services = servicePids().map(([name, pid]) => [name, pid, processCpuSeconds(pid)] as const);
  return () => {
    const seconds: Partial<Record<ProcessName, number>> = {};
    const io: Partial<Record<ProcessName, IoCounts>> = {};
    for (const [name, pid, before, ioBefore] of start) {
      const after = processCpuSeconds(pid);
      if (before !== null && after !== null) seconds[name] = after - before;
      const ioAfter = processIo(pid);
      if (ioBefore && ioAfter) io[name] = { reads: ioAfter.reads - ioBefore.reads, writes: ioAfter.writes - ioBefore.writes, switches: ioAfter.switches - ioBefore.switches };
    }
    for (const [name, pid, before] of services) {
      const after = processCpuSeconds(pid);
      if (before !== null && after !== null) seconds[name] = (seconds[name] ?? 0) + after - before;
    }
    const machine1 = machineCpuSeconds();
    if (machine0 !== null && machine1 !== null) seconds.machine = machine1 - machine0;
    return { wallSeconds: (performance.now() - wall0) / 1000, seconds, io };
  };
}

export function addCpu(samples: readonly CpuSample[]): CpuSample {
  const seconds: Partial<Record<ProcessName, number>> = {};
  const io: Partial<Record<ProcessName, IoCounts>> = {};
  for (const s of samples) {
    for (const [name, v] of Object.entries(s.seconds) as Array<[ProcessName, number]>) seconds[name] = (seconds[name] ?? 0) + v;
    for (const [name, v] of Object.entries(s.io) as Array<[ProcessName, IoCounts]>) {
      const sum = (io[name] ??= { reads: 0, writes: 0, switches: 0 });
      sum.reads += v.reads;
      sum.writes += v.writes;
      sum.switches += v.switches;
    }
  }
  return { wallSeconds: samples.reduce((sum, s) => sum + s.wallSeconds, 0), seconds, io };
}

/** System calls and context switches per run per process, to one decimal. */
export function ioPerRun(sample: CpuSample, runs: number): Partial<Record<ProcessName, IoCounts>> {
  const per = (n: number) => Math.round((n / runs) * 10) / 10;
  return Object.fromEntries(Object.entries(sample.io).map(([name, v]) => [name, { reads: per(v.reads), writes: per(v.writes), switches: per(v.switches) }]));
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
