/**
 * Second-stage and re-sampled runs are scored against the prior their
 * classifier was effectively trained under (lib/eval/logit_prior.ts), not
 * the long-tailed training counts: cRT (a class-balanced sampler) and
 * tau-norm are calibrated to the uniform prior, so PC softmax is
 * f - log(1/C) + log p_t and EM starts from and re-weights against uniform.
 * The expected values are computed here, in JS, from the run's own exported
 * logits; `evaluate`, `compare` and `predict` must agree with them, also for
 * a run written before the prior was recorded. The runs, the grid's
 * evaluation, compare and predict --run go through the command line
 * (tests/cli.ts); the other commands are called in-process and their printed
 * output read, which spares a process each.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readNpy } from "../../lib/eval/npy.ts";
import { encodeNpy } from "../../lib/eval/npy.ts";
import { shiftIndices } from "../../lib/data/mod.ts";
import { MANIFEST } from "../../lib/run/checkpoint.ts";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { predictCommand } from "../../lib/cli/predict.ts";
import { stage2Command } from "../../lib/cli/stage2.ts";
import { weightsExportCommand } from "../../lib/cli/weights.ts";
import { writeFixture } from "../train/fixture.ts";
import { lade, printed } from "../cli.ts";

async function ok(args: string[], cwd: string): Promise<string> {
  const r = await lade(args, { cwd });
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Rows of a float32 [N, C] .npy file. */
async function rows(path: string): Promise<number[][]> {
  const a = await readNpy(path);
  const [n, c] = a.shape;
  const d = Array.from(a.data as Float32Array);
  return Array.from({ length: n }, (_, i) => d.slice(i * c, i * c + c));
}

const logSoftmax = (z: number[]) => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
};

/** PC softmax top-1 (%) and NLL on `idx`, compensating `trained` and adding log `target`. */
function pcSoftmax(
  f: number[][],
  labels: Int32Array,
  idx: Int32Array,
  trained: number[],
  target: number[],
) {
  let correct = 0, nll = 0;
  for (const i of idx) {
    const z = f[i].map((v, c) => v - Math.log(trained[c]) + Math.log(Math.max(target[c], 1e-12)));
    const lp = logSoftmax(z);
    if (z.indexOf(Math.max(...z)) === labels[i]) correct++;
    nll += -Math.max(lp[labels[i]], Math.log(1e-15));
  }
  return { top1: (100 * correct) / idx.length, nll: nll / idx.length };
}

/** Saerens et al.'s EM, as written in the paper: start at `trained`, re-weight by p_t / trained. */
function em(f: number[][], idx: Int32Array, trained: number[]): number[] {
  const probs = [...idx].map((i) => logSoftmax(f[i]).map(Math.exp));
  let pt = [...trained];
  for (let it = 0; it < 1000; it++) {
    const next = new Array(pt.length).fill(0);
    for (const p of probs) {
      const q = p.map((v, c) => (v * pt[c]) / trained[c]);
      const s = q.reduce((a, b) => a + b, 0);
      q.forEach((v, c) => (next[c] += v / s / probs.length));
    }
    const moved = Math.max(...next.map((v, c) => Math.abs(v - pt[c])));
    pt = next;
    if (moved < 1e-8) break;
  }
  const total = pt.reduce((a, b) => a + b, 0);
  return pt.map((v) => v / total);
}

Deno.test("cRT and tau-norm runs: evaluate, compare and predict compensate the uniform prior", async () => {
  // The compensation holds for any trained model: a small fixture.
  const root = await writeFixture(12, 6);
  const dir = await Deno.makeTempDir({ prefix: "lade-logit-prior-" });
  try {
    await Deno.writeTextFile(
      join(dir, "tiny.yaml"),
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 8\n` +
        `method:\n  name: softmax\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    await ok(["train", "--config", "tiny.yaml", "--out", "s1"], dir);
    await ok([
      "train",
      "--config",
      "tiny.yaml",
      "--out",
      "crt",
      "--init",
      "s1",
      "--init-skip",
      "head",
      "--freeze",
      "backbone",
      "--sampler",
      "balanced",
      "--lr",
      "0.2",
    ], dir);
    // The prior is recorded in the run's manifest (read raw: a field of its own).
    const manifest = async (run: string) =>
      JSON.parse(await Deno.readTextFile(join(dir, run, MANIFEST)));
    const s1 = await manifest("s1");
    const crt = await manifest("crt");
    const counts: number[] = crt.trainCounts;
    const classes = counts.length;
    const uniform = counts.map(() => 1 / classes);
    const total = counts.reduce((a, b) => a + b, 0);

    const stdout = await ok([
      "evaluate",
      "--run",
      "crt",
      "--shift",
      "all",
      "--prior",
      "em",
      "--calibration",
      "none",
      "--json",
      "--no-report",
      "--export-npy",
      "npy",
    ], dir);
    const grid = JSON.parse(stdout) as {
      shift: string;
      results: Record<string, { top1: number; nll: number }>;
    }[];
    const f = await rows(join(dir, "npy", "logits.npy"));
    const labels = Int32Array.from(
      (await readNpy(join(dir, "npy", "labels.npy"))).data as BigInt64Array,
      Number,
    );
    for (const e of grid) {
      const idx = shiftIndices(labels, counts, e.shift);
      const pt = new Array(classes).fill(0);
      for (const i of idx) pt[labels[i]] += 1 / idx.length;
      const known = pcSoftmax(f, labels, idx, uniform, pt);
      assert.ok(
        Math.abs(e.results.pc_softmax.top1 - known.top1) < 1e-9,
        `${e.shift}: pc_softmax top-1 ${e.results.pc_softmax.top1}, expected ${known.top1}`,
      );
      assert.ok(
        Math.abs(e.results.pc_softmax.nll - known.nll) < 1e-4,
        `${e.shift}: pc_softmax NLL ${e.results.pc_softmax.nll}, expected ${known.nll}`,
      );
      const withEm = pcSoftmax(f, labels, idx, uniform, em(f, idx, uniform));
      assert.ok(
        Math.abs(e.results["pc_softmax+em"].nll - withEm.nll) < 1e-4,
        `${e.shift}: pc_softmax+em NLL ${e.results["pc_softmax+em"].nll}, expected ${withEm.nll}`,
      );
    }

    // The run records it: uniform for cRT, the source prior for stage 1.
    assert.deepEqual(crt.logitPrior, uniform);
    assert.deepEqual(s1.logitPrior, counts.map((n) => n / total));

    // A run written before the prior was recorded: derived from its config
    // (sampler balanced), the same numbers.
    const manifestPath = join(dir, "crt", MANIFEST);
    const raw = JSON.parse(await Deno.readTextFile(manifestPath));
    delete raw.logitPrior;
    await Deno.writeTextFile(manifestPath, JSON.stringify(raw));
    const old = JSON.parse(
      await printed(() =>
        evaluateCommand({ run: join(dir, "crt"), shift: "forward10", json: true, report: false })
      ),
    );
    const fwd = grid.find((e) => e.shift === "forward10")!;
    assert.equal(old.results.pc_softmax.top1, fwd.results.pc_softmax.top1);
    assert.equal(old.results.pc_softmax.nll, fwd.results.pc_softmax.nll);

    // compare scores the same run the same way.
    const cmp = JSON.parse(await ok(["compare", "crt", "--prior", "known", "--json"], dir));
    const entry = cmp.entries.find((e: { variant: string }) => e.variant === "pc_softmax");
    assert.equal(entry.cells.forward10.top1.mean, fwd.results.pc_softmax.top1);
    assert.equal(entry.cells.forward10.nll.mean, fwd.results.pc_softmax.nll);

    // predict: with a uniform target, PC softmax of a uniform-prior model is softmax(f).
    const images = new Uint8Array(4 * 28 * 28);
    for (let i = 0; i < 4; i++) {
      for (let x = 4; x < 24; x++) images[i * 784 + (2 + 2 * i) * 28 + x] = 255;
    }
    await Deno.writeFile(
      join(dir, "x.npy"),
      encodeNpy({ dtype: "uint8", shape: [4, 1, 28, 28], data: images }),
    );
    const pred = JSON.parse(
      await ok([
        "predict",
        "--run",
        "crt",
        "--npy",
        "x.npy",
        "--prior",
        "uniform",
        "--topk",
        "1",
        "--save-logits",
        "x_logits.npy",
        "--json",
      ], dir),
    );
    const px = await rows(join(dir, "x_logits.npy"));
    pred.predictions.forEach((p: { top: { class: number; prob: number }[] }, i: number) => {
      const probs = logSoftmax(px[i]).map(Math.exp);
      const best = probs.indexOf(Math.max(...probs));
      assert.equal(p.top[0].class, best);
      assert.ok(Math.abs(p.top[0].prob - probs[best]) < 1e-5, `${p.top[0].prob} ${probs[best]}`);
    });

    // Its exported weights carry the prior: predict --weights says the same.
    // (in-process: weights export, then predict --weights crt.safetensors --npy x.npy ...)
    await printed(() =>
      weightsExportCommand(join(dir, "crt"), { out: join(dir, "crt.safetensors") })
    );
    const viaWeights = JSON.parse(
      await printed(() =>
        predictCommand([], {
          weights: join(dir, "crt.safetensors"),
          npy: join(dir, "x.npy"),
          prior: "uniform",
          topk: "1",
          json: true,
        })
      ),
    );
    // The inputs are named as given.
    for (const p of viaWeights.predictions) p.input = p.input.replace(`${dir}/`, "");
    assert.deepEqual(viaWeights.predictions, pred.predictions);

    // tau-norm (no bias, unit class vectors) is scored as a balanced classifier.
    // (in-process: stage2 --run s1 --method tau-norm --tau 1 --out tau, then evaluate)
    await printed(() =>
      stage2Command({
        run: join(dir, "s1"),
        method: "tau-norm",
        tau: "1",
        out: join(dir, "tau"),
      })
    );
    assert.deepEqual((await manifest("tau")).logitPrior, uniform);
    const tau = JSON.parse(
      await printed(() =>
        evaluateCommand({
          run: join(dir, "tau"),
          shift: "backward10",
          json: true,
          report: false,
          exportNpy: join(dir, "tnpy"),
        })
      ),
    );
    const ft = await rows(join(dir, "tnpy", "logits.npy"));
    const idx = shiftIndices(labels, counts, "backward10");
    const pt = new Array(classes).fill(0);
    for (const i of idx) pt[labels[i]] += 1 / idx.length;
    const expected = pcSoftmax(ft, labels, idx, uniform, pt);
    assert.ok(Math.abs(tau.results.pc_softmax.nll - expected.nll) < 1e-4);
    assert.ok(Math.abs(tau.results.pc_softmax.top1 - expected.top1) < 1e-9);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
