/**
 * The PyTorch side of the CPU throughput benchmarks (train_bench.ts,
 * eval_bench.ts): runs a reference script of bench/ once and returns its
 * images-per-second samples, and prints a side-by-side table.
 *
 * The reference is PyTorch in its best eager configuration on the CPU:
 * channels-last model and batches (the layout lade uses), with plain NCHW
 * PyTorch measured beside it for context.
 *
 * @module
 */

import { median, PYTHON } from "./python.ts";

/** The memory formats the reference scripts take (`--format`). */
export type TorchFormat = "channels_last" | "nchw";

/** One run of a reference script: its samples and the PyTorch version. */
export interface TorchRun {
  /** Images per second of each repeat. */
  rates: number[];
  /** torch.__version__. */
  version: string;
}

/** Runs `script` (a file of bench/) with `args` and `--format format`; throws with its last error line. */
export async function torchRates(
  script: string,
  format: TorchFormat,
  args: string[],
): Promise<TorchRun> {
  const path = new URL(script, import.meta.url).pathname;
  const out = await new Deno.Command(PYTHON, {
    args: [path, "--format", format, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `the PyTorch reference failed (install python3-torch: bash scripts/setup.sh --bench): ${
        new TextDecoder().decode(out.stderr).trim().split("\n").pop()
      }`,
    );
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { rates: r.rates, version: r.torch };
}

/** One model's medians. */
export interface ThroughputRow {
  model: string;
  batch: number;
  threads: number;
  lade_images_per_sec: number;
  /** Channels-last PyTorch: the reference. */
  pytorch_images_per_sec: number;
  /** lade / channels-last PyTorch (the target's ratio). */
  ratio: number;
  /** Plain NCHW PyTorch, for context (absent with --nchw-runs 0). */
  pytorch_nchw_images_per_sec?: number;
  /** lade / NCHW PyTorch. */
  ratio_nchw?: number;
  pytorch: string;
}

/** Prints `rows` as a table under `title`. */
export function printTable(title: string, rows: ThroughputRow[], target: number): void {
  console.log(title);
  console.log(
    `${"model".padEnd(10)}${"lade img/s".padStart(12)}${"PyTorch CL".padStart(12)}${
      "ratio".padStart(7)
    }${"PyTorch NCHW".padStart(14)}${"ratio".padStart(7)}`,
  );
  for (const r of rows) {
    const nchw = r.pytorch_nchw_images_per_sec;
    console.log(
      `${r.model.padEnd(10)}${r.lade_images_per_sec.toFixed(1).padStart(12)}${
        r.pytorch_images_per_sec.toFixed(1).padStart(12)
      }${r.ratio.toFixed(2).padStart(7)}${(nchw ? nchw.toFixed(1) : "-").padStart(14)}${
        (r.ratio_nchw ? r.ratio_nchw.toFixed(2) : "-").padStart(7)
      }`,
    );
  }
  console.log(
    `ratio: lade / PyTorch (CL: channels-last, the reference; target >= ${
      target.toFixed(2)
    }); NCHW: plain PyTorch, for context`,
  );
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

/**
 * One model's row: lade's rates (`ladeRates`) and channels-last PyTorch's
 * (`script` with `args`) alternated over `rounds`, so that load from other
 * processes hits both alike, then `nchwRuns` runs of NCHW PyTorch for context.
 */
export async function compareWithTorch(
  model: string,
  script: string,
  args: string[],
  ladeRates: () => number[],
  o: { rounds: number; nchwRuns: number; batch: number; threads: number },
): Promise<ThroughputRow> {
  const lade: number[] = [], cl: number[] = [], nchw: number[] = [];
  let version = "";
  for (let r = 0; r < o.rounds; r++) {
    const t = await torchRates(script, "channels_last", args);
    cl.push(...t.rates);
    version = t.version;
    lade.push(...ladeRates());
  }
  for (let r = 0; r < o.nchwRuns; r++) {
    nchw.push(...(await torchRates(script, "nchw", args)).rates);
  }
  const m = median(lade), c = median(cl);
  return {
    model,
    batch: o.batch,
    threads: o.threads,
    lade_images_per_sec: m,
    pytorch_images_per_sec: c,
    ratio: m / c,
    ...(nchw.length > 0
      ? { pytorch_nchw_images_per_sec: median(nchw), ratio_nchw: m / median(nchw) }
      : {}),
    pytorch: version,
  };
}
