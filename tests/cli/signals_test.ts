/**
 * Ctrl-C and SIGTERM at every moment (lib/cli/signals.ts): a tiny `train`
 * and an `evaluate --shift all`, each stopped at 30 seeded random moments
 * spread over the whole run, and signals at the exact moments that once
 * fell between two listeners. Every stop prints one line on stderr and exits
 * 130 (SIGINT) or 143 (SIGTERM), or 0 when the command had already finished;
 * every run directory left behind loads and resumes, and no temporary file
 * or half-written report is left.
 *
 * Replay a failure with the seed it prints: LADE_SIGNAL_SEED=<seed>.
 */

import assert from "node:assert/strict";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { predictRun } from "../../lib/predict/run_predictions.ts";
import { train } from "../../lib/train/trainer.ts";
import { otherRank, type Phase, stopLine } from "../../lib/cli/signals.ts";
import { writeFixture } from "../train/fixture.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;
const child = new URL("./signal_child.ts", import.meta.url).pathname;
const SEED = Number(Deno.env.get("LADE_SIGNAL_SEED") ?? 20261204);
/** Stops per command. */
const STOPS = 30;
/** Processes at once: the stops are independent, and most of a run is start-up. */
const AT_ONCE = 4;

interface Outcome {
  code: number;
  /** The signal that ended the process by its default action (no listener yet), or null. */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** Whether the process was catching the signal when it was sent (/proc's SigCgt). */
  caught?: boolean;
}

/**
 * Whether process `pid` catches `signal` now: its bit in /proc/<pid>/status's
 * SigCgt mask, once it runs lade (between fork and exec a child shows its
 * parent's handlers, which exec resets).
 */
function catches(pid: number, signal: Deno.Signal): boolean | undefined {
  try {
    if (!Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(main)) return false;
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    if (!m) return undefined;
    const bit = BigInt(signal === "SIGINT" ? 2 - 1 : 15 - 1);
    return ((BigInt(`0x${m[1]}`) >> bit) & 1n) === 1n;
  } catch {
    return undefined; // exited
  }
}

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `args` (main.ts), sending `signal` after `delayMs` (if it still runs). */
async function runStopped(
  args: string[],
  delayMs: number | undefined,
  signal: Deno.Signal = "SIGINT",
): Promise<Outcome> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let caught: boolean | undefined;
  if (delayMs !== undefined) {
    timer = setTimeout(() => {
      caught = catches(proc.pid, signal);
      try {
        proc.kill(signal);
      } catch {
        // it has exited
      }
    }, delayMs);
  }
  const out = await proc.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    caught,
  };
}

/** Runs `jobs` with at most `n` at once, in order of their results. */
async function pool<T>(jobs: (() => Promise<T>)[], n: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const k = next++;
      results[k] = await jobs[k]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
  return results;
}

/** Every path under `dir`, relative to it. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(prefix + e.name);
    if (e.isDirectory) out.push(...await tree(`${dir}/${e.name}`, `${prefix}${e.name}/`));
  }
  return out;
}

/**
 * The delays of the stops: one in each of `STOPS` equal slices of
 * [0, 1.1 * runMs), at a random place in it, with a random signal.
 */
function schedule(runMs: number, seed: number): { delay: number; signal: Deno.Signal }[] {
  const rand = random(seed);
  return Array.from({ length: STOPS }, (_, i) => ({
    delay: Math.round(((i + rand()) / STOPS) * 1.1 * runMs),
    signal: rand() < 0.5 ? "SIGINT" : "SIGTERM",
  }));
}

/**
 * The checks every stopped (or finished) command must pass; `what` says
 * which stop. In the first moments of a process, before lade's first
 * statement installs its listeners (Deno's own start), a signal ends it by
 * the default action, silently and before anything is read or written:
 * allowed only when the process was not yet catching the signal as it was
 * sent (its SigCgt mask in /proc says).
 */
type Result = "stopped" | "finished" | "before start";

function checkOutcome(o: Outcome, signal: Deno.Signal, what: string): Result {
  if (o.signal !== null) {
    assert.equal(o.signal, signal, what);
    assert.equal(o.caught, false, `${what}: ended by ${o.signal}, unanswered`);
    assert.equal(o.stdout + o.stderr, "", what);
    return "before start";
  }
  const lines = o.stderr.split("\n").filter((l) => l !== "");
  if (o.code === 0) {
    assert.deepEqual(lines, [], `${what}: finished, yet printed on stderr`);
    return "finished";
  }
  assert.equal(o.code, signal === "SIGINT" ? 130 : 143, `${what}: ${o.stderr}`);
  assert.equal(lines.length, 1, `${what}: not one line on stderr:\n${o.stderr}`);
  assert.match(lines[0], /^lade: (interrupted|SIGTERM) during .+; .+/, what);
  return "stopped";
}

Deno.test({
  name: `train and evaluate --shift all, stopped at ${STOPS} random moments each: one line, ` +
    "130/143, every run left behind loads and resumes",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const T0 = performance.now();
    const root = await writeFixture(24, 30);
    try {
      const recipe = `${root}/tiny.yaml`;
      await Deno.writeTextFile(
        recipe,
        `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
          `train:\n  epochs: 2\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
      );
      // A whole run, timed under about the load of the stopped ones (two at a time).
      const whole = await pool(
        Array.from({ length: 2 }, (_, k) => async () => {
          const t0 = performance.now();
          const o = await runStopped(
            ["train", "--config", recipe, "--out", `${root}/whole${k}`],
            undefined,
          );
          assert.equal(o.code, 0, o.stderr);
          return performance.now() - t0;
        }),
        2,
      );
      const trainMs = Math.max(...whole);
      const base = `${root}/whole0`;

      const stops = schedule(trainMs, SEED);
      const replay = `(LADE_SIGNAL_SEED=${SEED})`;
      const trained = await pool(
        stops.map((s, i) => () =>
          runStopped(
            ["train", "--config", recipe, "--out", `${root}/t${i}`],
            s.delay,
            s.signal,
          )
        ),
        AT_ONCE,
      );
      let stopped = 0;
      for (const [i, o] of trained.entries()) {
        const what = `train stop ${i} (${stops[i].signal} after ${stops[i].delay} ms) ${replay}`;
        if (checkOutcome(o, stops[i].signal, what) === "stopped") {
          stopped++;
        }
        const dir = `${root}/t${i}`;
        const files = await tree(dir).catch(() => null);
        if (files === null) continue; // stopped before anything was written
        assert.deepEqual(files.filter((f) => /\.tmp$|\.old$/.test(f)), [], `${what}: ${files}`);
        // What is left loads (its predictions) and resumes to the end.
        const m = await readManifest(dir);
        assert.ok(m !== null, `${what}: ${dir} has no checkpoint: ${files}`);
        const p = await predictRun(dir);
        p.logits.dispose();
        const r = await train(m.config, { runDir: dir, resume: true });
        assert.equal(r.interrupted, false, what);
        assert.equal((await readManifest(dir))!.epoch, 2, what);
        if (files.includes("report")) {
          assert.ok(files.includes("report/index.html"), `${what}: a partial report: ${files}`);
        }
      }
      assert.ok(stopped >= STOPS / 2, `only ${stopped} of ${STOPS} train runs were stopped`);
      console.error(
        `[timing] train ${trainMs.toFixed(0)} ms, stops done ${
          (performance.now() - T0).toFixed(0)
        } ms`,
      );

      // evaluate --shift all of the finished run, each into a report folder of its own.
      const t0 = performance.now();
      const once = await runStopped(
        ["evaluate", "--run", base, "--shift", "all", "--report", `${root}/r-whole`],
        undefined,
      );
      assert.equal(once.code, 0, once.stderr);
      const evalMs = performance.now() - t0;
      const evalStops = schedule(evalMs * 1.5, SEED + 1);
      const evaluated = await pool(
        evalStops.map((s, i) => () =>
          runStopped(
            ["evaluate", "--run", base, "--shift", "all", "--report", `${root}/r${i}`],
            s.delay,
            s.signal,
          )
        ),
        AT_ONCE,
      );
      stopped = 0;
      for (const [i, o] of evaluated.entries()) {
        const s = evalStops[i];
        const what = `evaluate stop ${i} (${s.signal} after ${s.delay} ms) ${replay}`;
        if (checkOutcome(o, s.signal, what) === "stopped") stopped++;
        const report = await tree(`${root}/r${i}`).catch(() => null);
        if (report !== null) {
          // A report is there whole, or not at all.
          assert.deepEqual(report.sort(), (await tree(`${root}/r-whole`)).sort(), what);
        }
      }
      assert.ok(stopped >= STOPS / 2, `only ${stopped} of ${STOPS} evaluations were stopped`);
      const left = (await tree(root)).filter((f) => /\.tmp$|\.old$/.test(f));
      assert.deepEqual(left, [], `temporaries left behind ${replay}`);
      // The run that was evaluated is untouched: its own report is its training's.
      const runFiles = await tree(base);
      assert.ok(runFiles.includes("report/index.html"));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/** Runs main.ts's command line in a child that signals itself when stdout matches `pattern`. */
async function stopAt(signal: Deno.Signal, pattern: string, args: string[]): Promise<Outcome> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child, signal, pattern, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test({
  name: "a signal as the result table is printed (once between two listeners) is answered",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = await writeFixture(24, 6);
    try {
      const recipe = `${root}/tiny.yaml`;
      await Deno.writeTextFile(
        recipe,
        `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
          `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
      );
      // The moment training's listeners were gone and the final evaluation's
      // not yet there: the table of the uniform test set.
      const out = `${root}/run`;
      const o = await stopAt("SIGINT", "^top-1 accuracy \\(%\\) on the uniform", [
        "train",
        "--config",
        recipe,
        "--out",
        out,
      ]);
      assert.equal(o.code, 130, o.stderr);
      assert.equal(
        o.stderr.trim(),
        `lade: interrupted during the final evaluation (the shift grid); training finished and ` +
          `its checkpoint in ${out} is intact; evaluate it with: lade evaluate --run ${out} --shift all`,
      );
      assert.equal((await readManifest(out))!.epoch, 1);
      // evaluate had no listener at all: a signal as it prints its first line.
      // (It prints its first line once the evaluations are done: the signal is
      // answered there, or as the report is written.)
      const e = await stopAt("SIGTERM", "test samples$", ["evaluate", "--run", out]);
      assert.equal(e.code, 143, e.stderr);
      assert.match(
        e.stderr.trim(),
        /^lade: SIGTERM during (the evaluation of [^;]+; nothing was written|writing the report to [^;]+; [^;]+ is as it was \(a report is written whole or not at all\))$/,
      );
      // train's first line: the run directory exists, with a checkpoint after the first step.
      // (Twenty epochs, so that training is still under way however late this
      // process, on a loaded machine, gets to send the signal: one epoch of nine
      // steps could finish first.)
      const long = `${root}/long.yaml`;
      await Deno.writeTextFile(
        long,
        (await Deno.readTextFile(recipe)).replace("epochs: 1", "epochs: 20"),
      );
      const first = `${root}/first`;
      const t = await stopAt("SIGTERM", "training images", [
        "train",
        "--config",
        long,
        "--out",
        first,
      ]);
      assert.equal(t.code, 143, t.stderr);
      assert.match(
        t.stderr.trim(),
        /^lade: SIGTERM during training \(epoch \d+ of 20\); stopping after this step to write a checkpoint/,
      );
      assert.match(
        t.stdout,
        /checkpoint in .*first; continue with: lade train --resume .*first\n$/,
      );
      // (The listener runs at the next turn of the event loop: after a step or a few.)
      const m = (await readManifest(first))!;
      assert.ok(m.epoch < 20 && (m.epoch > 0 || m.step >= 1), JSON.stringify(m));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("a signal's line says what stopped, what is intact and what to run next", () => {
  const phase: Phase = {
    doing: "the final evaluation (the shift grid)",
    intact: "training finished and its checkpoint in runs/x is intact",
    next: "evaluate it with: lade evaluate --run runs/x --shift all",
  };
  assert.equal(
    stopLine("SIGINT", phase),
    "lade: interrupted during the final evaluation (the shift grid); training finished and its " +
      "checkpoint in runs/x is intact; evaluate it with: lade evaluate --run runs/x --shift all",
  );
  assert.equal(
    stopLine("SIGTERM", { doing: "lade data verify", intact: "nothing was written" }),
    "lade: SIGTERM during lade data verify; nothing was written",
  );
  assert.equal(otherRank({}), false);
  assert.equal(otherRank({ RANK: "0" }), false);
  assert.equal(otherRank({ RANK: "3" }), true);
  assert.equal(otherRank({ SLURM_PROCID: "1" }), true);
});
