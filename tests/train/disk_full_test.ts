/**
 * A checkpoint write that fails for lack of room (here RLIMIT_FSIZE, which
 * makes write() fail with EFBIG as a full disk fails with ENOSPC) is one line
 * and a non-zero exit; the previous checkpoint stays the latest and no
 * partial file is left. Before the archives were serialised in memory,
 * libtorch's writer threw from a destructor and the process aborted (134)
 * with a C++ stack trace and a partial `.tmp` archive.
 *
 * One run is trained for the whole file, in this process (enough epochs that
 * its metrics pass 1 KiB); each test resumes it from wherever the one before
 * left it: the full disks at the command line (a file-size limit of their
 * own), the rest in this process, as the one line lade prints.
 */

import assert from "node:assert/strict";
import { describeError } from "../../lib/cli/errors.ts";
import { trainEntry } from "../../lib/cli/train_seeds.ts";
import { InputError } from "../../lib/errors.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { MAIN } from "../cli.ts";
import { train } from "../../lib/train/trainer.ts";
import { fixtureConfig, writeFixture } from "./fixture.ts";

/** `lade ARGS` with files over `limitKiB` unwritable (SIGXFSZ ignored, so write() fails). */
function ladeWithFileLimit(limitKiB: number, args: string[]) {
  return new Deno.Command("bash", {
    args: ["-c", `trap '' XFSZ; ulimit -f ${limitKiB}; exec "$0" "$@"`, Deno.execPath()]
      .concat(["run", "-A", MAIN, ...args]),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
}

/**
 * The shared run: the fixture's MNIST-LT (R = 3), 5 epochs of batches of 16,
 * 1 thread, trained in this process (what is tested is how `train --resume`
 * fails, not the first training).
 */
let shared: Promise<{ root: string; out: string }> | undefined;
function trainedRun(): Promise<{ root: string; out: string }> {
  shared ??= (async () => {
    const root = await writeFixture();
    const out = `${root}/run`;
    await train(fixtureConfig(root, { train: { epochs: 5 } }), { runDir: out });
    return { root, out };
  })();
  return shared;
}

/**
 * `lade train --resume OUT --epochs N` in this process, its printing
 * silenced: the one line lade would print for its error and the exit status
 * (2 for bad input, else 1), or code 0 and no line.
 */
async function resumeInProcess(
  out: string,
  epochs: number,
): Promise<{ code: number; line: string }> {
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = () => {};
  try {
    await trainEntry({ resume: out, epochs: `${epochs}` });
    return { code: 0, line: "" };
  } catch (e) {
    const given = ["train", "--resume", out, "--epochs", `${epochs}`];
    return {
      code: e instanceof InputError ? 2 : 1,
      line: `lade: error: ${describeError(e, given)}`,
    };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The epoch the shared run's latest checkpoint ends. */
async function latestEpoch(out: string): Promise<number> {
  return (await readManifest(out))!.epoch;
}

Deno.test({
  name: "a full disk while a checkpoint is written: one line, exit 1, the previous checkpoint kept",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { out } = await trainedRun();
    const before = (await readManifest(out))!;
    const e = before.epoch;
    const files = [...Deno.readDirSync(`${out}/checkpoints`)].map((e) => e.name).sort();
    // Files over 1000 KiB cannot be written (an archive is about 1.5 MB).
    const full = await ladeWithFileLimit(1000, ["train", "--resume", out, "--epochs", `${e + 1}`]);
    assert.equal(full.code, 1, full.stderr);
    const lines = full.stderr.trim().split("\n");
    assert.equal(lines.length, 1, full.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^lade: error: cannot write the checkpoint of the end of epoch ${
          e + 1
        } to .*run: File too large.*; the previous checkpoint \\(the end of epoch ${e}\\) is intact and still the latest$`,
      ),
    );
    const after = (await readManifest(out))!;
    assert.deepEqual(after, before);
    assert.deepEqual([...Deno.readDirSync(`${out}/checkpoints`)].map((e) => e.name).sort(), files);
    assert.deepEqual(
      [...Deno.readDirSync(out)].filter((e) => e.name.endsWith(".tmp")),
      [],
      "no temporary left",
    );
    // With room again the run goes on from the checkpoint that was kept (in this process).
    const again = await resumeInProcess(out, e + 1);
    assert.equal(again.code, 0, again.line);
    assert.equal(await latestEpoch(out), e + 1);
  },
});

Deno.test("a step past the epoch's end (the schema cannot know the epoch's length) is refused", async () => {
  const { out } = await trainedRun();
  const manifest = await Deno.readTextFile(`${out}/checkpoint.json`);
  try {
    const m = JSON.parse(manifest);
    Object.assign(m, { epoch: 1, step: 999 });
    m.running.seen = 16;
    await Deno.writeTextFile(`${out}/checkpoint.json`, JSON.stringify(m));
    const past = await resumeInProcess(out, m.epoch + 2);
    assert.equal(past.code, 2, past.line);
    assert.match(
      past.line,
      /^lade: error: .*checkpoint\.json is damaged: step 999 is past the end of an epoch of 9 batches$/,
    );
  } finally {
    await Deno.writeTextFile(`${out}/checkpoint.json`, manifest);
  }
});

Deno.test({
  name: "a full disk while the metrics are written: one line naming them, the checkpoint kept",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { out } = await trainedRun();
    const e = await latestEpoch(out);
    const metrics = await Deno.readTextFile(`${out}/metrics.jsonl`);
    assert.ok(metrics.length > 1024, `${e} epochs of metrics pass the 1 KiB limit`);
    const full = await ladeWithFileLimit(1, ["train", "--resume", out, "--epochs", `${e + 1}`]);
    assert.equal(full.code, 1, full.stderr);
    assert.match(
      full.stderr.trim(),
      new RegExp(
        `^lade: error: cannot write the metrics of epoch ${
          e + 1
        } to .*run: File too large; the previous checkpoint \\(the end of epoch ${e}\\) is intact and still the latest$`,
      ),
    );
    assert.equal(await Deno.readTextFile(`${out}/metrics.jsonl`), metrics);
    assert.equal(await latestEpoch(out), e);
  },
});

Deno.test("result.json that cannot be written: one line naming it, the checkpoint kept", async () => {
  const { root, out } = await trainedRun();
  try {
    const e = await latestEpoch(out);
    // A folder in the way of the rename.
    await Deno.remove(`${out}/result.json`);
    await Deno.mkdir(`${out}/result.json/x`, { recursive: true });
    const r = await resumeInProcess(out, e + 1);
    assert.equal(r.code, 1, r.line);
    assert.match(
      r.line,
      new RegExp(
        `^lade: error: cannot write the result \\(result\\.json\\) to .*run: .*; the previous checkpoint \\(the end of epoch ${
          e + 1
        }\\) is intact and still the latest$`,
      ),
    );
    assert.equal(await latestEpoch(out), e + 1);
  } finally {
    // The last test: the shared run goes with it.
    await Deno.remove(root, { recursive: true });
  }
});
