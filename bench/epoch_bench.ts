/**
 * The training command against its step: the default recipe (`lade train`
 * with no flags: Fashion-MNIST-LT, R = 100, LADE, cnn28, batch 128) run end
 * to end, and the trainer's step on prepared batches (train_bench.ts's
 * worker, cnn28, batch 128) measured before and after it in the same run.
 *
 * The run is the default exactly (its threads too); the step then runs with
 * the thread count the run chose (its first line says it).
 * Reports the epochs' images per second as `lade train` logs them
 * (metrics.jsonl: the epoch's steps with the batch loader, the sums read,
 * progress; not the per-epoch evaluation), their median against the step
 * rate (target: at least 0.9x, so a regression in the loop around the step
 * shows), and the default run's wall time from start to the shift grid
 * printed, with the step rate beside it (absolute times are not comparable
 * between machines; the step rate says how fast this one was).
 *
 * usage: deno run -A bench/epoch_bench.ts [--epochs N (default: the recipe's 12)] [--json]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import { ladeRun } from "./reference.ts";
import { ladeEnv } from "./allocators.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string" },
    json: { type: "boolean", default: false },
  },
});

const root = new URL("..", import.meta.url).pathname;
/** The step worker's arguments, with the run's thread count. */
const stepArgs = (threads: number) => [
  "--models",
  "cnn28",
  "--batch",
  "128",
  "--threads",
  String(threads),
  "--steps",
  "20",
  "--warmup",
  "5",
  "--repeats",
  "3",
];

/** The default run, timed from its start to its exit (after the grid is printed). */
async function defaultRun(): Promise<
  { wall: number; epochs: number[]; threads: number; line: string }
> {
  const out = await Deno.makeTempDir({ prefix: "lade-epoch-bench-" });
  try {
    const args = ["run", "-A", `${root}main.ts`, "train", "--out", `${out}/run`];
    if (values.epochs) args.push("--epochs", values.epochs);
    const start = performance.now();
    const r = await new Deno.Command(Deno.execPath(), {
      args,
      env: ladeEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const wall = (performance.now() - start) / 1000;
    const text = new TextDecoder().decode(r.stdout);
    if (!r.success) {
      throw new Error(`lade train failed: ${new TextDecoder().decode(r.stderr).trim()}`);
    }
    const epochs = (await Deno.readTextFile(`${out}/run/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l).images_per_sec as number);
    // The first line: "... on cpu with 2 threads (the default: ...); ..."
    const line = text.split("\n")[0];
    const threads = Number(
      / with (\d+) threads? /.exec(line)?.[1] ?? navigator.hardwareConcurrency,
    );
    return { wall, epochs, threads, line };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

// The run first (its thread count is the default's choice), then the step
// with that count, twice.
const run = await defaultRun();
const before = await ladeRun("train_bench.ts", stepArgs(run.threads));
const after = await ladeRun("train_bench.ts", stepArgs(run.threads));
const step = median([...before.rates, ...after.rates]);
const epoch = median(run.epochs);
const result = {
  step_images_per_sec: step,
  step_allocator: before.note,
  epoch_images_per_sec: epoch,
  epochs_images_per_sec: run.epochs,
  ratio: epoch / step,
  wall_seconds: run.wall,
  threads: run.threads,
  first_line: run.line,
};
if (values.json) console.log(JSON.stringify(result, null, 1));
else {
  console.log(
    `default recipe (cnn28, batch 128): lade train's epochs ${Math.round(epoch)} img/s ` +
      `(median of ${run.epochs.length}: ${run.epochs.map(Math.round).join(", ")}), ` +
      `the step alone ${Math.round(step)} img/s (${run.threads} thread(s), ${before.note}): ` +
      `${result.ratio.toFixed(2)}x (target >= 0.90)`,
  );
  console.log(`its first line: ${run.line}`);
  console.log(
    `the default run, start to the shift grid: ${run.wall.toFixed(1)} s ` +
      `(this machine's step rate ${Math.round(step)} img/s)`,
  );
}
