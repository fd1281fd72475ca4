/**
 * Preemption and concurrent runs: SIGTERM checkpoints and exits 143 as
 * Ctrl-C does (before, SIGTERM killed the process with no checkpoint);
 * `--checkpoint-every` writes checkpoints inside epochs; a second
 * `train --resume` of a run in progress is refused with one line naming the
 * holder (before, both ran and wrote the same files); a stale lock of a dead
 * process is taken over.
 */

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { compareCommand } from "../../lib/cli/compare.ts";
import { describeError } from "../../lib/cli/errors.ts";
import { checkFlags } from "../../lib/cli/flag_checks.ts";
import { trainEntry, type TrainEntryOptions } from "../../lib/cli/train_seeds.ts";
import { InputError } from "../../lib/errors.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { LOCK_FILE } from "../../lib/run/lock.ts";
import { lade as runLade, MAIN } from "../cli.ts";
import { writeFixture } from "./fixture.ts";
import { refuses } from "../refusal.ts";

const main = MAIN;

/** `lade train ARGS` (tests/cli.ts). */
const lade = (args: string[]) => runLade(["train", ...args]);

/** `fn` refuses bad input, its one line as lade prints it (`given`) matching `re`, printing nothing. */
async function refusedInProcess(fn: () => unknown, given: string[], re: RegExp): Promise<void> {
  assert.deepEqual(await refuses(fn, re, given), [], "nothing printed");
}

/**
 * `lade train ARGS` (as `options`) run in this process: what it printed on
 * stdout and stderr, its error as the one line lade prints, and the exit
 * status (2 for bad input, 1 for another error).
 */
async function trainInProcess(
  args: string[],
  options: TrainEntryOptions,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const log = console.log, error = console.error;
  const stdout: string[] = [], stderr: string[] = [];
  console.log = (...a: unknown[]) => stdout.push(a.join(" "));
  console.error = (...a: unknown[]) => stderr.push(a.join(" "));
  let code = 0;
  try {
    await trainEntry(options);
  } catch (e) {
    code = e instanceof InputError ? 2 : 1;
    stderr.push(`lade: error: ${describeError(e, ["train", ...args])}`);
  } finally {
    console.log = log;
    console.error = error;
  }
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "SIGTERM checkpoints and exits 143; --checkpoint-every; the run directory's lock",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = await writeFixture();
    const out = `${root}/run`;
    await Deno.writeTextFile(
      `${root}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 200\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    const proc = new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", main, "train", "--config", `${root}/tiny.yaml`, "--out", out],
        ...["--checkpoint-every", "2"],
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The first checkpoint is one inside the first epoch (9 steps), after step 2.
    const until = Date.now() + 60_000;
    let first = null;
    while ((first = await readManifest(out).catch(() => null)) === null) {
      assert.ok(Date.now() < until, "no checkpoint within a minute");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(first.epoch > 0 || first.step % 2 === 0 && first.step > 0, JSON.stringify(first));
    // A second writer of the same run is refused, naming the holder (this process).
    const holder = JSON.parse(await Deno.readTextFile(`${out}/${LOCK_FILE}`));
    assert.equal(holder.pid, proc.pid);
    const second = await trainInProcess(["--resume", out], { resume: out });
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.stderr.trim(),
      new RegExp(
        `^lade: error: ${out} is in use by another lade \\(pid ${proc.pid} on ${hostname()}, ` +
          `since [^)]+\\); wait for it to finish or stop it$`,
      ),
    );
    proc.kill("SIGTERM");
    const res = await proc.output();
    const stdout = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 143, new TextDecoder().decode(res.stderr));
    assert.match(stdout, /checkpoint in .*; continue with: lade train --resume /);
    assert.ok(!(await exists(`${out}/${LOCK_FILE}`)), "the lock is released");
    const m = (await readManifest(out))!;
    assert.ok(m.epoch < 200);

    // A lock left by a process that is gone (here: one that has exited) is taken over.
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    await Deno.writeTextFile(
      `${out}/${LOCK_FILE}`,
      JSON.stringify({ pid: dead.pid, host: hostname(), since: "2026-01-01T00:00:00Z" }),
    );
    // And what an interrupted write left behind is removed at the next start.
    await Deno.writeTextFile(`${out}/checkpoint.json.${dead.pid}.tmp`, "partial");
    await Deno.writeTextFile(`${out}/checkpoints/model-partial.pt.${dead.pid}.tmp`, "partial");
    // (In this process: the signal and its exit above are the command line's.)
    const resumed = await trainInProcess(
      ["--resume", out, "--epochs", String(m.epoch + 1)],
      { resume: out, epochs: String(m.epoch + 1) },
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      new RegExp(
        `warning: took over the lock of .* from pid ${dead.pid} on .*, which is no longer running`,
      ),
    );
    assert.equal((await readManifest(out))!.epoch, m.epoch + 1);
    assert.ok(!(await exists(`${out}/${LOCK_FILE}`)));
    assert.ok(!(await exists(`${out}/checkpoint.json.${dead.pid}.tmp`)));
    assert.ok(!(await exists(`${out}/checkpoints/model-partial.pt.${dead.pid}.tmp`)));
    await Deno.remove(root, { recursive: true });
  },
});

Deno.test("empty paths and contradicting flags are refused before anything is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // At the command line: an empty value of `--flag=` and a blank one, and a contradiction.
    for (const args of [["--out="], ["--resume", " "]]) {
      const r = await runLade(["train", ...args], { cwd: dir });
      const err = r.stderr.trim();
      assert.equal(r.code, 2, err);
      assert.match(
        err,
        /^lade: error: --(out|resume|config): empty value; give a name or leave the flag out$/,
      );
    }
    const r = await runLade(
      ["evaluate", "--run", `${dir}/none`, "--report", `${dir}/r`, "--no-report"],
      { cwd: dir },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /--report cannot be combined with --no-report$/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
    // The other cases in this process, through the same check (commander's parse as options).
    const flagOf = (key: string) => `--${key}`;
    for (
      const [options, args] of [
        [{ out: "" }, ["--out", ""]],
        [{ config: "" }, ["--config", ""]],
      ] as const
    ) {
      await refusedInProcess(
        () => checkFlags(options, ["train", ...args], flagOf),
        ["train", ...args],
        /^--(out|resume|config): empty value; give a name or leave the flag out$/,
      );
    }
    for (
      const [options, args, re] of [
        [{ report: "" }, ["--report", ""], /--report: empty value/],
        [
          { report: `${dir}/r` },
          ["--no-report", "--report", `${dir}/r`],
          /--report cannot be combined with --no-report$/,
        ],
      ] as const
    ) {
      const given = ["evaluate", "--run", `${dir}/none`, ...args];
      await refusedInProcess(() => checkFlags(options, given, flagOf), given, re);
    }
    // --out naming a file, or a folder under one (this one at the command line).
    await Deno.writeTextFile(`${dir}/file`, "");
    const file = await lade(["--out", `${dir}/file`]);
    assert.match(file.stderr.trim(), /^lade: error: --out .*file: exists and is not a folder$/);
    assert.equal(file.code, 2);
    await Deno.remove(`${dir}/file`);
    await refusedInProcess(
      () => trainEntry({ checkpointEvery: "10x", out: `${dir}/x` }),
      ["train", "--checkpoint-every", "10x", "--out", `${dir}/x`],
      /^--checkpoint-every: expected a step count \(500\) or minutes \(10m\), got '10x'$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "Ctrl-C during the final evaluation says what it stopped and that the checkpoint is intact",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    // A large test split, so that the final evaluation (the shift grid) takes seconds.
    const root = await writeFixture(24, 1500);
    try {
      const out = `${root}/run`;
      await Deno.writeTextFile(
        `${root}/tiny.yaml`,
        `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
          `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
      );
      const proc = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "train", "--config", `${root}/tiny.yaml`, "--out", out],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(proc.stderr).text();
      // printResult's table comes right before the grid's evaluation starts.
      let stdout = "";
      const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
      while (!/top-1 accuracy \(%\) on the uniform test set/.test(stdout)) {
        const { value, done } = await reader.read();
        assert.ok(!done, `the run ended first: ${stdout}`);
        stdout += value;
      }
      proc.kill("SIGINT");
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += value;
      }
      const status = await proc.status;
      const err = (await stderr).trim();
      assert.equal(status.code, 130, err);
      assert.doesNotMatch(stdout, /across the shift grid\n(.|\n)*report:/, "the grid was stopped");
      assert.match(
        err,
        /lade: interrupted during the final evaluation \(the shift grid\); training finished and its checkpoint in .*run is intact; evaluate it with: lade evaluate --run .*run --shift all$/,
      );
      assert.equal((await readManifest(out))!.epoch, 1);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "SIGTERM in a seed group says to resume the group; compare --out naming a file is one line",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = await writeFixture();
    try {
      const group = `${root}/g`;
      await Deno.writeTextFile(
        `${root}/tiny.yaml`,
        `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
          `train:\n  epochs: 200\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
      );
      const proc = new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", "-A", main, "train", "--config", `${root}/tiny.yaml`],
          ...["--seeds", "0,1", "--out", group],
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const until = Date.now() + 60_000;
      while ((await readManifest(`${group}/seed0`).catch(() => null)) === null) {
        assert.ok(Date.now() < until, "no checkpoint within a minute");
        await new Promise((r) => setTimeout(r, 20));
      }
      proc.kill("SIGTERM");
      const res = await proc.output();
      assert.equal(res.code, 143, new TextDecoder().decode(res.stderr));
      // Before: "continue with: lade train --resume GROUP/seed0", which resumes one seed only.
      assert.match(
        new TextDecoder().decode(res.stdout),
        new RegExp(`continue the seed group with: lade train --resume ${group}\\n`),
      );
      // compare --out naming a file, in this process: one refusal, nothing printed.
      await Deno.writeTextFile(`${root}/file`, "");
      await refusedInProcess(
        () => compareCommand([`${group}/seed0`], { out: `${root}/file` }),
        ["compare", `${group}/seed0`, "--out", `${root}/file`],
        /^--out .*file: exists and is not a folder$/,
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("checkpointEvery in minutes: a checkpoint inside the epoch once the time has passed", async () => {
  const { train } = await import("../../lib/train/trainer.ts");
  const { fixtureConfig } = await import("./fixture.ts");
  const root = await writeFixture();
  try {
    const runDir = `${root}/run`;
    const seen: { epoch: number; step: number }[] = [];
    // A tiny interval: every step is past it, so each step but the epoch's last saves.
    await train(fixtureConfig(root, { train: { epochs: 1 } }), {
      runDir,
      checkpointEvery: { minutes: 1e-9 },
      onStep: () => {
        const m = JSON.parse(Deno.readTextFileSync(`${runDir}/checkpoint.json`));
        seen.push({ epoch: m.epoch, step: m.step });
      },
    });
    assert.ok(seen.length >= 8, `${seen.length} steps`);
    seen.slice(0, -1).forEach((s, i) => assert.deepEqual(s, { epoch: 0, step: i + 1 }));
    assert.equal((await readManifest(runDir))!.epoch, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
