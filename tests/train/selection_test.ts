/**
 * The best checkpoint beside the last (`--keep best,last`), early stopping on
 * the validation split (`--early-stop N`, Lightning's patience), and
 * `--checkpoint best|last` of evaluate, predict and weights export.
 */

import assert from "node:assert/strict";
import { describeError } from "../../lib/cli/errors.ts";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { predictCommand } from "../../lib/cli/predict.ts";
import { trainEntry, type TrainEntryOptions } from "../../lib/cli/train_seeds.ts";
import { weightsExportCommand } from "../../lib/cli/weights.ts";
import { InputError } from "../../lib/errors.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { initialSelection, updateSelection } from "../../lib/train/selection.ts";
import { assertOneLineError, lade as runLade, printed } from "../cli.ts";
import { writeFixture } from "./fixture.ts";
import { refuses as refused } from "../refusal.ts";

/** `lade ARGS` (tests/cli.ts). */
const lade = (...args: string[]) => runLade(args);

/** Runs a sequence of validation results through the selection; the epochs that were best and where it stopped. */
function decide(
  values: number[],
  earlyStop?: { patience: number; min_delta: number },
): { best: number[]; stoppedAfter: number | null } {
  let s = initialSelection();
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const d = updateSelection(s, values[i], i + 1, earlyStop);
    s = d.next;
    if (d.best) best.push(i + 1);
    if (d.stop) return { best, stoppedAfter: i + 1 };
  }
  return { best, stoppedAfter: null };
}

Deno.test("selection as Lightning's ModelCheckpoint (mode max) and EarlyStopping decide", () => {
  // Strictly better only: a tie is not a new best (ModelCheckpoint compares with torch.gt).
  assert.deepEqual(decide([50, 60, 60, 59, 61]), { best: [1, 2, 5], stoppedAfter: null });
  // patience 2: 60 at epoch 2, then 60 (wait 1) and 59 (wait 2): stop after epoch 4.
  assert.deepEqual(decide([50, 60, 60, 59, 61], { patience: 2, min_delta: 0 }), {
    best: [1, 2],
    stoppedAfter: 4,
  });
  // min_delta 1: 60.5 beats 60 as the best but not by more than 1 for early stopping;
  // 61.5 does (61.5 - 1 > 60), so the wait restarts from there.
  assert.deepEqual(decide([60, 60.5, 61.5, 61, 62, 62], { patience: 2, min_delta: 1 }), {
    best: [1, 2, 3, 5],
    stoppedAfter: 5,
  });
  // patience 1 stops at the first epoch without improvement.
  assert.deepEqual(decide([70, 70], { patience: 1, min_delta: 0 }), { best: [1], stoppedAfter: 2 });
});

Deno.test("flags and recipes: best and early stopping need a validation split; bad values", async () => {
  assertOneLineError(
    await lade("train", "--keep", "best,last"),
    /^lade: error: --keep: the best checkpoint \(by validation top-1\) needs a validation split: hold one out with --val-per-class K/,
  );
  // The rest in this process, as the one line lade prints (bad input: exit 2).
  const refusedTrain = (args: string[], options: TrainEntryOptions, re: RegExp) =>
    assert.rejects(() => printed(() => trainEntry(options)), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      const line = `lade: error: ${describeError(e, ["train", ...args])}`;
      assert.equal(line.split("\n").length, 1, line);
      assert.match(line, re);
      return true;
    });
  await refusedTrain(
    ["--early-stop", "3"],
    { earlyStop: "3" },
    /^lade: error: --early-stop: early stopping needs a validation split/,
  );
  await refusedTrain(
    ["--keep", "worst", "--val-per-class", "2"],
    { keep: "worst", valPerClass: "2" },
    /^lade: error: --keep: must be best or last, got "worst"$/,
  );
  await refusedTrain(
    ["--early-stop", "0", "--val-per-class", "2"],
    { earlyStop: "0", valPerClass: "2" },
    /--early-stop.*must be a positive integer, got 0/,
  );
});

Deno.test("--keep best,last: the best epoch's weights beside the last; --checkpoint best|last", async () => {
  const root = await writeFixture();
  try {
    const out = `${root}/run`;
    await Deno.writeTextFile(
      `${root}/r.yaml`,
      `dataset: {name: mnist-lt, root: ${root}, imbalance: 3}\nthreads: 1\n`,
    );
    const trained = await lade(
      "train",
      "--config",
      `${root}/r.yaml`,
      "--epochs",
      "4",
      "--batch-size",
      "16",
      "--lr",
      "0.2",
      "--val-per-class",
      "4",
      "--keep",
      "best,last",
      "--out",
      out,
    );
    assert.equal(trained.code, 0, trained.stderr);
    const metrics = await readMetrics(out);
    assert.equal(metrics.length, 4);
    // The best epoch: the first with the highest validation top-1.
    const vals = metrics.map((m) => m.val_top1!);
    const bestEpoch = vals.indexOf(Math.max(...vals)) + 1;
    const m = (await readManifest(out))!;
    assert.equal(m.best?.epoch, bestEpoch);
    assert.equal(m.best?.valTop1, Math.max(...vals));
    assert.equal(m.selection?.bestEpoch, bestEpoch);
    assert.match(trained.stdout, new RegExp(`epoch ${bestEpoch}/4 .* val [\\d.]+% \\(best\\)`));
    // Only what the manifest names stays: the last model and optimiser, and the best model.
    const files = (await Array.fromAsync(Deno.readDir(`${out}/checkpoints`))).map((e) =>
      `checkpoints/${e.name}`
    ).sort();
    assert.deepEqual(files, [...new Set([m.model, m.optimizer, m.best!.model])].sort());
    const result = JSON.parse(await Deno.readTextFile(`${out}/result.json`));
    assert.deepEqual(result.best, { epoch: bestEpoch, val_top1: Math.max(...vals) });

    // evaluate on the uniform set: LADE's uniform-prior rule is the argmax of
    // the logits, the accuracy the training log recorded for that epoch (in
    // this process; `evaluate --checkpoint` at the command line below).
    const uniformTop1 = async (which: string) => {
      const e = await printed(() =>
        evaluateCommand({ run: out, checkpoint: which, json: true, report: false })
      );
      const json = JSON.parse(e);
      return (Array.isArray(json) ? json[0] : json).results.lade.top1;
    };
    assert.ok(Math.abs((await uniformTop1("best")) - metrics[bestEpoch - 1].test_top1!) < 1e-9);
    assert.ok(Math.abs((await uniformTop1("last")) - metrics[3].test_top1!) < 1e-9);
    const text = await printed(() =>
      evaluateCommand({ run: out, checkpoint: "best", report: false })
    );
    assert.match(text, new RegExp(`checkpoint: best \\(epoch ${bestEpoch}, validation`));

    // weights export and predict take the same choice (export in this process).
    const exp = await printed(() =>
      weightsExportCommand(out, { checkpoint: "best", out: `${root}/best.safetensors` })
    );
    assert.match(exp, new RegExp(`epoch ${bestEpoch} \\(the best by validation top-1\\)`));
    assertOneLineError(
      await lade("evaluate", "--run", out, "--checkpoint", "first"),
      /--checkpoint: must be best or last, got 'first'/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("early stopping ends the run; resuming it trains no further; a run without best says so", async () => {
  const root = await writeFixture(12, 4);
  try {
    const out = `${root}/run`;
    // min_delta 100: no epoch can improve on the first, so patience 1 stops after epoch 2.
    await Deno.writeTextFile(
      `${root}/r.yaml`,
      `dataset: {name: mnist-lt, root: ${root}, imbalance: 3, val_per_class: 2}\n` +
        "train: {epochs: 6, batch_size: 16, early_stop: {patience: 1, min_delta: 100}}\n" +
        "threads: 1\n",
    );
    const r = await lade("train", "--config", `${root}/r.yaml`, "--out", out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /early stopping: validation top-1 has not improved by more than 100 for 1 epoch\(s\); the best was [\d.]+% after epoch 1/,
    );
    assert.equal((await readMetrics(out)).length, 2);
    const m = (await readManifest(out))!;
    assert.equal(m.epoch, 2);
    assert.equal(m.selection?.stopped, true);
    assert.equal(m.best, undefined);
    const result = JSON.parse(await Deno.readTextFile(`${out}/result.json`));
    assert.equal(result.early_stop.epoch, 2);
    assert.equal(result.early_stop.best_epoch, 1);
    // In this process, as `lade train --resume OUT` runs it.
    const again = await printed(() => trainEntry({ resume: out }));
    assert.match(
      again,
      /stopped early after epoch 2 \(early stopping\); nothing left to train/,
    );
    assert.equal((await readMetrics(out)).length, 2);
    assertOneLineError(
      await lade("evaluate", "--run", out, "--checkpoint", "best"),
      /--checkpoint: .*run kept no best checkpoint: train with --keep best,last and a validation split \(--val-per-class K\)$/,
    );
    // predict's refusal in this process (its one line at the command line: evaluate's above).
    await refused(
      () => predictCommand(["x.png"], { run: out, checkpoint: "best" }),
      /kept no best checkpoint/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
