/**
 * The decoupled second stages on a tiny first-stage run: tau-normalisation
 * (unit-norm class vectors for tau 1, no bias) and LWS (each class vector
 * and bias scaled by a learned factor); the backbone untouched, the results
 * runs that evaluate. The runs are made through the command line (tests/cli.ts);
 * their weights are exported, and the refusals but one checked, in-process
 * (lib/cli/weights.ts, lib/cli/stage2.ts), which spares a process each.
 */
import assert from "node:assert/strict";
import { readWeightsFile } from "../../lib/weights/model_weights.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { predictRun } from "../../lib/predict/run_predictions.ts";
import { InputError } from "../../lib/errors.ts";
import { describeError } from "../../lib/cli/errors.ts";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { stage2Command, type Stage2CommandOptions } from "../../lib/cli/stage2.ts";
import { weightsExportCommand } from "../../lib/cli/weights.ts";
import { writeFixture } from "./fixture.ts";
import { lade as ladeIn, printed } from "../cli.ts";

/** `lade ARGS` in `cwd`. */
const lade = (args: string[], cwd: string) => ladeIn(args, { cwd });

/**
 * `lade stage2 ARGS` in-process (`options`, paths in `dir`), refused: the
 * exit status main.ts's exitWithError gives (2: bad input) and its one line.
 */
async function stage2Refused(
  dir: string,
  options: Stage2CommandOptions,
  args: string[],
): Promise<{ code: number; line: string }> {
  const withPaths = { ...options, run: `${dir}/${options.run}`, out: `${dir}/${options.out}` };
  const error = await stage2Command(withPaths).then(
    () => assert.fail(`stage2 ${args.join(" ")} succeeded`),
    (e: unknown) => e,
  );
  const code = error instanceof InputError ? 2 : 1;
  return { code, line: `lade: error: ${describeError(error, ["stage2", ...args])}` };
}

/** The run's weights, exported as `weights export` does (in-process). */
async function weights(dir: string, run: string) {
  await printed(() => weightsExportCommand(`${dir}/${run}`, { out: `${dir}/${run}.safetensors` }));
  const file = await readWeightsFile(`${dir}/${run}.safetensors`);
  const f32 = (name: string) => {
    const t = file.tensors.get(name)!;
    return new Float32Array(t.data.slice().buffer);
  };
  const backbone = [...file.tensors].filter(([n]) => !n.startsWith("head."))
    .map(([n, t]) => `${n}:${Array.from(t.data).join(",")}`);
  return { w: f32("head.weight"), b: f32("head.bias"), backbone };
}

Deno.test("stage2: tau-norm and LWS change only the classifier, as their formulas say", async () => {
  // The formulas hold for any trained classifier: a small fixture, one epoch.
  const root = await writeFixture(12, 6);
  const dir = await Deno.makeTempDir({ prefix: "lade-stage2-" });
  try {
    await Deno.writeTextFile(
      `${dir}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `method:\n  name: softmax\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    let r = await lade(["train", "--config", "tiny.yaml", "--out", "s1"], dir);
    assert.equal(r.code, 0, r.stderr);
    const s1 = await weights(dir, "s1");
    const classes = 10, d = s1.w.length / classes;
    const norm = (w: Float32Array, c: number) =>
      Math.sqrt(w.slice(c * d, c * d + d).reduce((a, v) => a + v * v, 0));

    r = await lade(
      ["stage2", "--run", "s1", "--method", "tau-norm", "--tau", "1", "--out", "tau"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const tau = await weights(dir, "tau");
    assert.deepEqual(tau.backbone, s1.backbone);
    for (let c = 0; c < classes; c++) {
      assert.ok(Math.abs(norm(tau.w, c) - 1) < 1e-5, `class ${c}: ${norm(tau.w, c)}`);
      // The direction kept.
      const ratio = tau.w[c * d] / s1.w[c * d];
      assert.ok(Math.abs(ratio - 1 / norm(s1.w, c)) < 1e-4 * ratio);
    }
    assert.deepEqual(Array.from(tau.b), new Array(classes).fill(0));
    assert.equal((await readManifest(`${dir}/tau`))!.config.stage2?.method, "tau-norm");

    r = await lade([
      "stage2",
      "--run",
      "s1",
      "--method",
      "lws",
      "--epochs",
      "2",
      "--lr",
      "0.2",
      "--out",
      "lws",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /lws epoch 2\/2: loss/);
    const lws = await weights(dir, "lws");
    assert.deepEqual(lws.backbone, s1.backbone);
    const scales = (await readManifest(`${dir}/lws`))!.config.stage2!.scales!;
    assert.equal(scales.length, classes);
    assert.ok(scales.some((s) => Math.abs(s - 1) > 1e-3), `scales learned: ${scales}`);
    for (let c = 0; c < classes; c++) {
      for (const i of [0, d - 1]) {
        const expected = s1.w[c * d + i] * scales[c];
        assert.ok(Math.abs(lws.w[c * d + i] - expected) <= 1e-5 * Math.max(1, Math.abs(expected)));
      }
      assert.ok(Math.abs(lws.b[c] - s1.b[c] * scales[c]) <= 1e-5);
    }
    // evaluate in-process (its printed JSON); tauv's evaluation below is a command line's.
    const ev = await printed(() =>
      evaluateCommand({ run: `${dir}/lws`, json: true, report: false })
    );
    assert.ok("pc_softmax" in JSON.parse(ev).results);

    // tau chosen on the validation split, never the test set: a run without
    // one is refused; with one, the choice is the grid's best, and the new
    // run's own validation predictions give the accuracy recorded.
    const noVal = await stage2Refused(
      dir,
      { run: "s1", method: "tau-norm", out: "t0" },
      ["--run", "s1", "--method", "tau-norm", "--out", "t0"],
    );
    assert.notEqual(noVal.code, 0);
    assert.match(
      noVal.line,
      /^lade: error: .*has no validation split to choose tau on \(train with --val-per-class K, or give --tau;/,
    );
    r = await lade(["train", "--config", "tiny.yaml", "--out", "v1", "--val-per-class", "3"], dir);
    assert.equal(r.code, 0, r.stderr);
    r = await lade(["stage2", "--run", "v1", "--method", "tau-norm", "--out", "tauv"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tau [0-9.]+ chosen on the validation split/);
    const selection = (await readManifest(`${dir}/tauv`))!.config.stage2!.selection!;
    r = await lade(["evaluate", "--run", "tauv", "--no-report"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^second stage: tau-norm \(tau [0-9.]+, chosen on the validation split\) of v1$/m,
    );
    assert.equal(selection.grid.length, 21);
    assert.equal(selection.accuracy, Math.max(...selection.grid.map((g) => g.accuracy)));
    const val = await predictRun(`${dir}/tauv`, { split: "val" });
    try {
      const predicted = Array.from(val.logits.argmax(1).toArray() as BigInt64Array, Number);
      const hit = new Array(classes).fill(0), n = new Array(classes).fill(0);
      val.labels.forEach((y, i) => {
        n[y]++;
        if (predicted[i] === y) hit[y]++;
      });
      const accuracy = hit.reduce((a, h, c) => a + h / n[c], 0) / classes;
      assert.ok(
        Math.abs(accuracy - selection.accuracy) < 1e-9,
        `${accuracy} vs ${selection.accuracy}`,
      );
    } finally {
      val.logits.dispose();
    }

    const bad = await stage2Refused(
      dir,
      { run: "s1", method: "lws", out: "lws" },
      ["--run", "s1", "--method", "lws", "--out", "lws"],
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.line, /^lade: error: .*already holds a run$/);
    const tauBad = await stage2Refused(
      dir,
      { run: "s1", method: "tau-norm", tau: "-1", out: "t2" },
      ["--run", "s1", "--method", "tau-norm", "--tau", "-1", "--out", "t2"],
    );
    assert.match(tauBad.line, /^lade: error: .*tau.*>= 0/);

    // Divergence, as train detects it: one line, exit 1, nothing written (no folder).
    const hugeTau = await lade(
      ["stage2", "--run", "s1", "--method", "tau-norm", "--tau", "1e308", "--out", "t3"],
      dir,
    );
    assert.equal(hugeTau.code, 1, hugeTau.stderr);
    assert.equal(
      hugeTau.stderr.trim(),
      "lade: error: tau-normalisation with tau 1e+308 makes the classifier's weights NaN, " +
        "infinite or zero (|w_c|^tau overflows); use a tau of a few units at most (the grid tries 0 to 2)",
    );
    await assert.rejects(() => Deno.stat(`${dir}/t3`), Deno.errors.NotFound);
    // (in-process: the one line and the status main.ts would give)
    const hugeLr = await stage2Refused(
      dir,
      { run: "s1", method: "lws", lr: "1e308", epochs: "1", out: "l3" },
      ["--run", "s1", "--method", "lws", "--lr", "1e308", "--epochs", "1", "--out", "l3"],
    );
    assert.equal(hugeLr.code, 1, hugeLr.line);
    assert.match(
      hugeLr.line,
      /^lade: error: lws diverged: the loss became NaN or infinite in epoch 1 \(learning rate 1e\+308\); lower --lr$/,
    );
    await assert.rejects(() => Deno.stat(`${dir}/l3`), Deno.errors.NotFound);
    // An epoch count no run could reach is refused before any data loads.
    const hugeEpochs = await stage2Refused(
      dir,
      { run: "s1", method: "lws", epochs: "1e20", out: "l4" },
      ["--run", "s1", "--method", "lws", "--epochs", "1e20", "--out", "l4"],
    );
    assert.equal(hugeEpochs.code, 2, hugeEpochs.line);
    assert.match(
      hugeEpochs.line,
      /^lade: error: --epochs: must be a positive integer \(at most 2\^53 - 1\), got 100000000000000000000$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
