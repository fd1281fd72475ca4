/**
 * A loss that becomes NaN or infinite (`--alpha 1e308`) stops training with
 * one line naming the epoch and step, before anything of it is saved; a
 * fresh run that fails before its first checkpoint leaves no run folder
 * behind (before: the NaN weights were saved as the latest checkpoint, the
 * run then failed in libtorch's bincount, and a folder holding only
 * config.yaml was left).
 */

import assert from "node:assert/strict";
import { writeFixture } from "./fixture.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("--alpha 1e308: one line naming epoch and step, nothing saved, no folder left", async () => {
  const root = await writeFixture();
  try {
    await Deno.writeTextFile(
      `${root}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 2\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", main, "train", "--config", `${root}/tiny.yaml`],
        ...["--alpha", "1e308", "--out", `${root}/run`],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr).trim();
    assert.equal(r.code, 1, err);
    assert.match(
      err,
      /^lade: error: training diverged: the loss became NaN or infinite in epoch 1 \(by step \d+ of 9\); nothing was saved$/,
    );
    await assert.rejects(() => Deno.stat(`${root}/run`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a long tail that leaves a class with no training images is refused in its own terms", async () => {
  const root = await writeFixture(); // 24 images a class: R = 100 leaves the rarest none
  try {
    await Deno.writeTextFile(
      `${root}/lt.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\ntrain:\n  epochs: 1\n  batch_size: 16\nthreads: 1\n`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "train", "--config", `${root}/lt.yaml`, "--out", `${root}/run`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr).trim();
    assert.equal(r.code, 2, err);
    // Before: "--train-counts: must be positive numbers, got 0" from the loss.
    assert.match(
      err,
      // The ratio is the dataset name's default (no flag, no recipe key): said so.
      /^lade: error: the default recipe: dataset\.imbalance: 100 leaves class \d+ with no training images \(the rarest classes keep n_max \/ R of n_max 24\); use at most 24 \(--imbalance sets it\)$/,
    );
    await assert.rejects(() => Deno.stat(`${root}/run`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("predict --npy with NaN or infinite inputs is refused (it printed NaN%)", async () => {
  const root = await writeFixture();
  try {
    await Deno.writeTextFile(
      `${root}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const trained = await run(["train", "--config", `${root}/tiny.yaml`, "--out", `${root}/run`]);
    assert.equal(trained.code, 0, new TextDecoder().decode(trained.stderr));
    const { encodeNpy } = await import("../../lib/eval/npy.ts");
    const data = new Float32Array(2 * 28 * 28);
    data[5] = NaN;
    data[900] = -Infinity;
    await Deno.writeFile(
      `${root}/nan.npy`,
      encodeNpy({ dtype: "float32", shape: [2, 1, 28, 28], data }),
    );
    const r = await run(["predict", "--run", `${root}/run`, "--npy", `${root}/nan.npy`]);
    assert.equal(r.code, 2);
    assert.match(
      new TextDecoder().decode(r.stderr).trim(),
      /^lade: error: --npy .*nan\.npy: holds 2 NaN or infinite value\(s\)$/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
