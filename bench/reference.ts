/**
 * Side-by-side throughput of lade and PyTorch (train_bench.ts,
 * eval_bench.ts, allocator_bench.ts): each side runs in a process of its
 * own, under an allocator set-up of bench/allocators.ts, and the processes
 * alternate round after round, so that load from other processes hits all
 * alike; a row holds the median of every series.
 *
 * The reference is PyTorch at its best: channels-last (oneDNN's NHWC
 * convolutions, the layout lade uses) under each of glibc as it comes,
 * glibc with lade's thresholds, tcmalloc and jemalloc, and the fastest of
 * them is the one compared with; for evaluation also PyTorch's own
 * inference path (`torch.jit.freeze` + `torch.jit.optimize_for_inference`)
 * under each. lade runs as `lade train` / `lade evaluate` run: a worker
 * process started exactly as lade's entry starts (the same allocator
 * set-up, lib/cli/allocator.ts).
 *
 * @module
 */

import { median, PYTHON } from "./python.ts";
import { type AllocatorVariant, ladeEnv, torchEnv, variantLabel } from "./allocators.ts";

const dec = new TextDecoder();

/** One process's result: its images-per-second samples and what it ran on. */
export interface Samples {
  /** Images per second of each repeat. */
  rates: number[];
  /** torch.__version__ (PyTorch), or the allocator in use (lade). */
  note: string;
}

/** Runs a reference script of bench/ with `args` under allocator `v`; throws with its last error line. */
export async function torchRun(
  script: string,
  args: string[],
  v: AllocatorVariant,
): Promise<Samples> {
  const path = new URL(script, import.meta.url).pathname;
  const out = await new Deno.Command(PYTHON, {
    args: [path, ...args],
    env: torchEnv(v),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `the PyTorch reference failed (install python3-torch: bash scripts/setup.sh --bench): ${
        dec.decode(out.stderr).trim().split("\n").pop()
      }`,
    );
  }
  const r = JSON.parse(dec.decode(out.stdout));
  return { rates: r.rates, note: r.torch };
}

/**
 * Runs lade's side: `script` (a file of bench/) with `--worker` and `args`,
 * started as lade's entry starts, under `v` (undefined: lade's default).
 */
export async function ladeRun(
  script: string,
  args: string[],
  v?: AllocatorVariant,
): Promise<Samples> {
  const path = new URL(script, import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, "--worker", ...args],
    env: ladeEnv(v),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`lade's worker failed: ${dec.decode(out.stderr).trim().split("\n").pop()}`);
  }
  const r = JSON.parse(dec.decode(out.stdout));
  return { rates: r.rates, note: r.allocator };
}

/** A named series of samples: one process per round. */
export interface Series {
  /** The column's key: "lade", "eager/tcmalloc", ... */
  key: string;
  run: () => Promise<Samples>;
}

/**
 * Runs every series once per round, in turn (the first series of a round
 * rotates, so that none always follows another), and returns each one's
 * samples and its last note.
 */
export async function alternate(
  series: Series[],
  rounds: number,
): Promise<Map<string, Samples>> {
  const out = new Map<string, Samples>(series.map((s) => [s.key, { rates: [], note: "" }]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < series.length; i++) {
      const s = series[(i + r) % series.length];
      const got = await s.run();
      const acc = out.get(s.key)!;
      acc.rates.push(...got.rates);
      acc.note = got.note;
    }
  }
  return out;
}

/** The median of each series. */
export function medians(samples: Map<string, Samples>): Record<string, number> {
  return Object.fromEntries([...samples].map(([k, s]) => [k, median(s.rates)]));
}

/** The fastest of `keys` (with prefix `prefix`) among `m`: its key and median. */
export function fastest(
  m: Record<string, number>,
  prefix: string,
): { key: string; images_per_sec: number } {
  const best = Object.entries(m).filter(([k]) => k.startsWith(prefix))
    .sort((a, b) => b[1] - a[1])[0];
  return { key: best[0].slice(prefix.length), images_per_sec: best[1] };
}

/** One model's comparison. */
export interface ThroughputRow {
  model: string;
  batch: number;
  threads: number;
  /** lade as `lade train`/`evaluate` runs it, and its allocator. */
  lade: { allocator: string; images_per_sec: number };
  /** The median of every series (lade and each PyTorch set-up), images per second. */
  series: Record<string, number>;
  /** The references: the fastest PyTorch set-up of each kind, and lade / it. */
  references: { name: string; allocator: string; images_per_sec: number; ratio: number }[];
  /** PyTorch channels-last under glibc as it comes (context: what most users run). */
  pytorch_glibc: number;
  pytorch: string;
}

/** A number of images per second for a table: 4,506. */
function rate(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

/** Prints `rows` as a table under `title`; `targets` gives each reference's target ratio. */
export function printTable(title: string, rows: ThroughputRow[], targets: number[]): void {
  console.log(title);
  const refs = rows[0]?.references.map((r) => r.name) ?? [];
  const head = [
    "model".padEnd(10),
    "lade".padStart(18),
    ...refs.flatMap((n) => [n.padStart(26), "ratio".padStart(7)]),
    "PyTorch glibc".padStart(15),
    "ratio".padStart(7),
  ];
  console.log(head.join(""));
  for (const r of rows) {
    const cells = [
      r.model.padEnd(10),
      `${rate(r.lade.images_per_sec)} (${r.lade.allocator})`.padStart(18),
      ...r.references.flatMap((x) => [
        `${rate(x.images_per_sec)} (${x.allocator})`.padStart(26),
        x.ratio.toFixed(2).padStart(7),
      ]),
      rate(r.pytorch_glibc).padStart(15),
      (r.lade.images_per_sec / r.pytorch_glibc).toFixed(2).padStart(7),
    ];
    console.log(cells.join(""));
  }
  console.log(
    `img/s, medians; ratio: lade / the fastest PyTorch set-up of its column (targets: ${
      refs.map((n, i) => `${n} >= ${targets[i].toFixed(2)}`).join(", ")
    }); every series: --json`,
  );
}

/** Prints each series' median (every allocator set-up), one line a model. */
export function printSeries(rows: ThroughputRow[]): void {
  for (const r of rows) {
    console.log(
      `  ${r.model}: ` +
        Object.entries(r.series).map(([k, v]) => `${k} ${rate(v)}`).join(", "),
    );
  }
}

/** How lade's side of a throughput benchmark is timed. */
export interface Timing {
  /** Images a step processes. */
  batch: number;
  /** Untimed steps first. */
  warmup: number;
  /** Samples, each of `steps` steps. */
  repeats: number;
  steps: number;
}

/** Images per second of `step(i)` (one batch a step): one sample per repeat, after the warm-up. */
export function timeSteps(step: (i: number) => unknown, t: Timing): number[] {
  for (let i = 0; i < t.warmup; i++) step(i);
  const rates: number[] = [];
  for (let r = 0; r < t.repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < t.steps; i++) step(i);
    rates.push((t.steps * t.batch) / ((performance.now() - start) / 1000));
  }
  return rates;
}

/** The label of a series key's allocator part: "eager/glibc-tuned" -> "glibc+thr". */
export function allocatorOf(key: string): string {
  return variantLabel(key.slice(key.indexOf("/") + 1) as AllocatorVariant);
}

/** The input shape [C, S, S] of a benchmark model (torchvision ResNets: `size`, default 224). */
export function inputShape(arch: string, size?: number): number[] {
  if (arch.startsWith("cnn28")) return [1, 28, 28];
  if (arch.startsWith("resnet32")) return [3, 32, 32];
  return [3, size ?? 224, size ?? 224];
}
