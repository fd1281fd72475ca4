/**
 * Training threads on an idle and on a shared machine: one epoch of the
 * default recipe (`lade train --epochs 1`) with lade's default thread count
 * and with each fixed count (`--threads 1`, `--threads 2`, ... up to the
 * cores), the settings alternating, first with nothing else running, then
 * beside a background process that keeps one core busy (`--load yes`: a
 * `yes > /dev/null`; `--load train`: another `lade train --threads 1`;
 * `--pin`: the load pinned to the last core with taskset).
 *
 * Reports each setting's epoch images per second (metrics.jsonl, medians
 * over `--rounds`) and the default's ratio to the best fixed count (target:
 * at least 0.9 under load, and no loss idle), with the thread line the
 * default run printed.
 *
 * usage: deno run -A bench/threads_bench.ts [--rounds 2] [--load yes|train] [--pin]
 *          [--conditions idle,loaded] [--json]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import { ladeEnv } from "./allocators.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "2" },
    load: { type: "string", default: "yes" },
    pin: { type: "boolean", default: false },
    conditions: { type: "string", default: "idle,loaded" },
    epochs: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const root = new URL("..", import.meta.url).pathname;
const main = `${root}main.ts`;
const cores = navigator.hardwareConcurrency;
const settings = ["default", ...Array.from({ length: cores }, (_, i) => String(i + 1))];

/** One epoch with `setting`'s threads: its images per second and the thread line it printed. */
async function epoch(setting: string): Promise<{ rate: number; line: string }> {
  const out = await Deno.makeTempDir({ prefix: "lade-threads-bench-" });
  try {
    const args = ["run", "-A", main, "train", "--epochs", values.epochs, "--out", `${out}/run`];
    if (setting !== "default") args.push("--threads", setting);
    const r = await new Deno.Command(Deno.execPath(), {
      args,
      env: ladeEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) throw new Error(new TextDecoder().decode(r.stderr).trim());
    const lines = (await Deno.readTextFile(`${out}/run/metrics.jsonl`)).trim().split("\n");
    const rates = lines.map((l) => JSON.parse(l).images_per_sec as number);
    const line = new TextDecoder().decode(r.stdout).split("\n").find((l) => /thread/.test(l)) ??
      "";
    return { rate: median(rates), line };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** Starts the background load; returns the function that stops it. */
async function startLoad(): Promise<() => Promise<void>> {
  const pin = values.pin ? ["taskset", "-c", String(cores - 1)] : [];
  let cmd: string[];
  let dir: string | undefined;
  if (values.load === "train") {
    dir = await Deno.makeTempDir({ prefix: "lade-threads-load-" });
    cmd = [Deno.execPath(), "run", "-A", main, "train", "--threads", "1", "--epochs", "1000"];
    cmd.push("--out", `${dir}/run`);
  } else {
    cmd = ["yes"];
  }
  const all = [...pin, ...cmd];
  const proc = new Deno.Command(all[0], {
    args: all.slice(1),
    env: ladeEnv(),
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Let it reach its steady state (a training loads its data first).
  await new Promise((r) => setTimeout(r, values.load === "train" ? 8000 : 500));
  return async () => {
    proc.kill("SIGKILL");
    await proc.status;
    if (dir) await Deno.remove(dir, { recursive: true });
  };
}

interface Row {
  condition: string;
  rates: Record<string, number>;
  best_fixed: string;
  ratio: number;
  default_line: string;
}

const rows: Row[] = [];
for (const condition of values.conditions.split(",")) {
  const stop = condition === "loaded" ? await startLoad() : undefined;
  const samples: Record<string, number[]> = Object.fromEntries(settings.map((s) => [s, []]));
  let line = "";
  try {
    for (let r = 0; r < Number(values.rounds); r++) {
      for (let i = 0; i < settings.length; i++) {
        const s = settings[(i + r) % settings.length];
        const got = await epoch(s);
        samples[s].push(got.rate);
        if (s === "default") line = got.line;
      }
    }
  } finally {
    await stop?.();
  }
  const rates = Object.fromEntries(settings.map((s) => [s, median(samples[s])]));
  const fixed = settings.filter((s) => s !== "default").sort((a, b) => rates[b] - rates[a])[0];
  rows.push({
    condition,
    rates,
    best_fixed: fixed,
    ratio: rates.default / rates[fixed],
    default_line: line.trim(),
  });
}
if (values.json) console.log(JSON.stringify(rows, null, 1));
else {
  console.log(
    `one epoch of the default recipe, img/s (medians of ${values.rounds}); load: ${values.load}` +
      (values.pin ? ` pinned to CPU ${cores - 1}` : ""),
  );
  console.log(
    `${"condition".padEnd(10)}${
      settings.map((s) => (s === "default" ? "default" : `--threads ${s}`).padStart(13)).join("")
    }${"default/best".padStart(14)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.condition.padEnd(10)}${
        settings.map((s) => Math.round(r.rates[s]).toString().padStart(13)).join("")
      }${r.ratio.toFixed(2).padStart(14)}`,
    );
  }
  for (const r of rows) console.log(`  ${r.condition}, the default's line: ${r.default_line}`);
  console.log("target: default/best >= 0.90 loaded, >= 1.00 (within noise) idle");
}
