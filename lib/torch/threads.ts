/**
 * The default number of CPU threads: the cores other processes leave free.
 *
 * libtorch's OpenMP threads spin while they wait for each other (libgomp
 * spins for some milliseconds before it sleeps). On a core that another
 * process also wants, the spinning thread takes the core from the thread
 * everyone waits for, and a step takes several times as long: measured
 * beside one busy core on 2 cores, 2 threads trained cnn28 at 120 img/s and
 * 1 thread at 800 (README, Benchmarks). So unless `--threads` says
 * otherwise, lade counts the cores of its CPU set that other processes kept
 * busy (/proc/stat's busy time of those CPUs less this process's own, from
 * /proc/self/stat) and uses the rest, at least one; a training looks again
 * every few seconds ({@link ThreadGovernor}), so it takes the cores back
 * when the other process ends, and gives one up when another starts.
 *
 * @module
 */

/** A reading of the CPU clocks: busy and total time of this process's CPUs, and its own time. */
export interface CpuSample {
  /** Busy clock ticks of the CPUs this process may run on (user, nice, system, irq, steal). */
  busy: number;
  /** All clock ticks of those CPUs (busy and idle). */
  total: number;
  /** This process's own ticks (all its threads, user and system). */
  self: number;
  /** How many CPUs were read. */
  cpus: number;
}

/** The CPUs this process may run on (/proc/self/status's Cpus_allowed_list), or undefined. */
export function allowedCpus(status: string): Set<number> | undefined {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (!m) return undefined;
  const out = new Set<number>();
  for (const part of m[1].split(",")) {
    const [a, b] = part.split("-").map(Number);
    for (let c = a; c <= (b ?? a); c++) out.add(c);
  }
  return out;
}

/**
 * A CPU sample from the texts of /proc/stat, /proc/self/stat and
 * /proc/self/status (pure: the tests give their own).
 */
export function parseCpuSample(stat: string, selfStat: string, status: string): CpuSample {
  const allowed = allowedCpus(status);
  let busy = 0, total = 0, cpus = 0;
  for (const line of stat.split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m || (allowed && !allowed.has(Number(m[1])))) continue;
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    const f = m[2].trim().split(/\s+/).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const all = f.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
    busy += all - idle;
    total += all;
    cpus++;
  }
  // The fields after the command name (which may hold spaces and parentheses).
  const fields = selfStat.slice(selfStat.lastIndexOf(")") + 2).split(" ");
  // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the name.
  const self = Number(fields[11]) + Number(fields[12]);
  return { busy, total, self, cpus };
}

/** Reads the CPU clocks now; undefined where /proc is not there. */
export function cpuSample(): CpuSample | undefined {
  try {
    return parseCpuSample(
      Deno.readTextFileSync("/proc/stat"),
      Deno.readTextFileSync("/proc/self/stat"),
      Deno.readTextFileSync("/proc/self/status"),
    );
  } catch {
    return undefined;
  }
}

/**
 * The cores other processes kept busy between two samples (fractional: 0.7
 * is a process that had 70% of a core), or undefined when the window held
 * too few clock ticks to say (under 10 per CPU: 100 ms at Linux's usual 100
 * ticks a second).
 */
export function othersBusy(a: CpuSample, b: CpuSample): number | undefined {
  if (b.cpus !== a.cpus || b.cpus === 0) return undefined;
  const ticks = (b.total - a.total) / b.cpus;
  if (!(ticks >= 10)) return undefined;
  const others = (b.busy - a.busy) - (b.self - a.self);
  return Math.max(0, others / ticks);
}

/** A thread count and why it is that, in words (info and the run's start line say it). */
export interface ThreadChoice {
  threads: number;
  why: string;
}

/**
 * The thread count for `cores` cores of which other processes keep `others`
 * busy, given the current count `current` (hysteresis: one core fewer once
 * others use more than half of one, one more back once they use under a
 * quarter of it, so a load near the edge does not flip the count).
 */
export function threadsFor(cores: number, others: number, current = cores): number {
  const free = cores - others;
  if (free < current - 0.5) return Math.max(1, Math.min(cores, Math.round(free)));
  if (free > current + 0.75) return Math.max(1, Math.min(cores, Math.floor(free + 0.25)));
  return current;
}

/** "1 of 2 cores busy with other processes (1.0 in use)": a choice's reason. */
function describe(cores: number, threads: number, others: number): string {
  const busy = cores - threads;
  const used = `other processes used ${others.toFixed(1)}`;
  return busy === 0
    ? `all ${cores} cores free (${used})`
    : `${busy} of ${cores} cores busy (${used})`;
}

/** The process's first sample (lade's entry takes it: the longest window to measure over). */
let processStart: { sample: CpuSample; at: number } | undefined;

/** Takes the process's first CPU sample, once (main.ts's `main` does, first thing). */
export function markProcessStart(): void {
  if (processStart) return;
  const sample = cpuSample();
  if (sample) processStart = { sample, at: performance.now() };
}

/** Blocks the calling thread for `ms` milliseconds (no event loop runs meanwhile). */
function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Chooses and revises the default thread count of one process: the first
 * choice from the window since `start` (the command's start), then, through
 * {@link ThreadGovernor.revise}, at most every `everyMs` from the window
 * since the last look.
 */
export class ThreadGovernor {
  #last: CpuSample | undefined;
  #lastAt: number;
  #threads: number;
  /** The cores it chooses among. */
  readonly cores: number;
  /** The least time between two looks (ms). */
  readonly everyMs: number;

  /**
   * `start`: the first sample (default: the process's, from
   * {@link markProcessStart}, else one taken now); `sample` reads the
   * clocks (tests give their own).
   */
  constructor(
    options: {
      cores?: number;
      start?: CpuSample;
      everyMs?: number;
      sample?: () => CpuSample | undefined;
    } = {},
  ) {
    this.cores = options.cores ?? navigator.hardwareConcurrency;
    this.everyMs = options.everyMs ?? 3000;
    this.#sample = options.sample ?? cpuSample;
    if (options.start) {
      this.#last = options.start;
      this.#lastAt = performance.now();
    } else if (processStart && !options.sample) {
      this.#last = processStart.sample;
      this.#lastAt = processStart.at;
    } else {
      this.#last = this.#sample();
      this.#lastAt = performance.now();
    }
    this.#threads = this.cores;
  }

  #sample: () => CpuSample | undefined;

  /** The count chosen last. */
  get threads(): number {
    return this.#threads;
  }

  /**
   * The first choice: the cores free since the start sample, waiting for
   * the window to last `minWindowMs` when it is shorter (all the cores when
   * it could not be measured: no /proc).
   */
  initial(minWindowMs = 150): ThreadChoice {
    if (this.cores === 1) return { threads: 1, why: "one core" };
    sleepSync(minWindowMs - (performance.now() - this.#lastAt));
    const now = this.#sample();
    const others = this.#last && now ? othersBusy(this.#last, now) : undefined;
    if (now) this.#last = now, this.#lastAt = performance.now();
    if (others === undefined) {
      return { threads: this.cores, why: `all ${this.cores} cores (the load could not be read)` };
    }
    this.#threads = threadsFor(this.cores, others);
    return { threads: this.#threads, why: describe(this.cores, this.#threads, others) };
  }

  /**
   * A new count when other processes took or left cores since the last look
   * (at most one look every `everyMs`); undefined when it stays.
   */
  revise(): ThreadChoice | undefined {
    const at = performance.now();
    if (at - this.#lastAt < this.everyMs) return undefined;
    const now = this.#sample();
    if (!now || !this.#last) return undefined;
    const others = othersBusy(this.#last, now);
    this.#last = now;
    this.#lastAt = at;
    if (others === undefined) return undefined;
    const next = threadsFor(this.cores, others, this.#threads);
    if (next === this.#threads) return undefined;
    this.#threads = next;
    return { threads: next, why: describe(this.cores, next, others) };
  }
}

/** The default count a command chose (see useDefaultThreads), once it did. */
let commandChoice: ThreadChoice | undefined;

/**
 * The default thread count of a command that runs once (evaluate, predict,
 * ...): `OMP_NUM_THREADS` when set (as libtorch itself would), else the
 * cores other processes leave free now. Chosen once per process.
 */
export function defaultThreads(): ThreadChoice {
  if (commandChoice) return commandChoice;
  const omp = Deno.env.get("OMP_NUM_THREADS");
  if (omp !== undefined && /^[1-9][0-9]*$/.test(omp.trim())) {
    commandChoice = { threads: Number(omp), why: `OMP_NUM_THREADS=${omp.trim()}` };
  } else {
    const first = new ThreadGovernor().initial();
    commandChoice = { threads: first.threads, why: `the default: ${first.why}` };
  }
  return commandChoice;
}
