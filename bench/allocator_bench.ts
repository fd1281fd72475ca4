/**
 * lade's training and evaluation throughput under each allocator it can run
 * with (`LADE_ALLOCATOR`: glibc with lade's thresholds, tcmalloc, jemalloc,
 * mimalloc), for cnn28, ResNet-32 and ResNet-50: the measurement behind
 * lade's default allocator (lib/torch/allocator.ts).
 *
 * Each cell runs the workers of train_bench.ts and eval_bench.ts (a process
 * started as lade's entry starts, with `LADE_ALLOCATOR` set), the four
 * allocators alternating over `--rounds` rounds; medians, and each
 * allocator's rate relative to glibc with lade's thresholds.
 *
 * usage: deno run -A bench/allocator_bench.ts [--threads N] [--rounds 3]
 *          [--models cnn28,resnet32,resnet50] [--resnet50-size 64] [--json]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { alternate, ladeRun, medians, type Series } from "./reference.ts";
import {
  type AllocatorVariant,
  LADE_VARIANTS,
  variantAvailable,
  variantLabel,
} from "./allocators.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    rounds: { type: "string", default: "3" },
    models: { type: "string", default: "cnn28,resnet32,resnet50" },
    "resnet50-size": { type: "string", default: "64" },
    json: { type: "boolean", default: false },
  },
});
const rounds = Number(values.rounds);
const variants = LADE_VARIANTS.filter(variantAvailable);

/** The worker arguments of one cell: batch, steps and repeats sized to a few seconds each. */
function cellArgs(arch: string, kind: "train" | "eval"): string[] {
  const big = arch === "resnet50";
  const batch = kind === "train" ? (big ? 32 : 128) : (big ? 64 : 1024);
  const steps = kind === "train" ? (big ? 2 : arch === "cnn28" ? 10 : 4) : (big ? 2 : 2);
  const args = ["--threads", values.threads, "--batch", String(batch), "--steps", String(steps)];
  args.push("--warmup", kind === "train" ? "3" : "1", "--repeats", "3", "--models", arch);
  if (big) args.push("--image-size", values["resnet50-size"]);
  return args;
}

interface Row {
  model: string;
  kind: "train" | "eval";
  args: string[];
  /** Medians per allocator, images per second. */
  rates: Record<string, number>;
  best: string;
}

const rows: Row[] = [];
for (const arch of values.models.split(",")) {
  for (const kind of ["train", "eval"] as const) {
    const args = cellArgs(arch, kind);
    const script = kind === "train" ? "train_bench.ts" : "eval_bench.ts";
    const series: Series[] = variants.map((v: AllocatorVariant) => ({
      key: v,
      run: () => ladeRun(script, args, v),
    }));
    const m = medians(await alternate(series, rounds));
    const best = Object.entries(m).sort((a, b) => b[1] - a[1])[0][0];
    rows.push({ model: arch, kind, args, rates: m, best });
    if (!values.json) {
      console.log(
        `${arch.padEnd(9)} ${kind.padEnd(6)}` +
          variants.map((v) => `${variantLabel(v)} ${Math.round(m[v])}`.padStart(18)).join("") +
          `   best: ${variantLabel(best as AllocatorVariant)}`,
      );
    }
  }
}
if (values.json) console.log(JSON.stringify(rows, null, 1));
else {
  console.log(
    `lade img/s under each allocator (LADE_ALLOCATOR), ${values.threads} thread(s), medians of ${rounds} rounds x 3; ` +
      `resnet50 at ${values["resnet50-size"]} px`,
  );
  // The geometric mean of each allocator's rate relative to glibc with lade's thresholds.
  for (const v of variants) {
    const logs = rows.map((r) => Math.log(r.rates[v] / r.rates["glibc-tuned"]));
    const g = Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length);
    console.log(`  ${variantLabel(v).padEnd(10)} ${g.toFixed(3)}x glibc+thr (geometric mean)`);
  }
}
