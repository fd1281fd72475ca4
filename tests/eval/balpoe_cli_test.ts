import assert from "node:assert/strict";
import { SHIFT_GRID, shiftIndices } from "../../lib/data/mod.ts";
import { readNpy } from "../../lib/eval/npy.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { writeFixture } from "../train/fixture.ts";
import { lade as ladeIn } from "../cli.ts";

/** `lade ARGS`. */
const lade = (...args: string[]) => ladeIn(args);

interface EvalJson {
  shift: string;
  counts: number[];
  results: Record<string, { top1: number }>;
}

/** Top-1 (%) of argmax_c (logits[i][c] + offset[c]) over the rows `indices`. */
function top1(
  logits: Float32Array,
  classes: number,
  labels: number[],
  indices: Int32Array,
  offset: number[],
): number {
  let right = 0;
  for (const i of indices) {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      const z = (k: number) => logits[i * classes + k] + offset[k];
      if (z(c) > z(best)) best = c;
    }
    if (best === labels[i]) right++;
  }
  return (100 * right) / indices.length;
}

Deno.test("train --method balpoe (mixup by default), then evaluate: the balanced product, with the true and EM's prior", async () => {
  const root = await writeFixture();
  const yaml = `${root}/tiny.yaml`;
  await Deno.writeTextFile(
    yaml,
    `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
      `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
  );
  const run = `${root}/run`;
  const t = await lade(
    "train",
    "--config",
    yaml,
    "--method",
    "balpoe",
    "--expert-lambdas",
    "-0.5,1,2.5",
    "--val-per-class",
    "3",
    "--out",
    run,
  );
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /cnn28-sade/);
  assert.match(t.stdout, /balpoe\s+balpoe_oracle/);
  const config = (await readManifest(run))!.config;
  assert.deepEqual(config.method.expert_lambdas, [-0.5, 1, 2.5]);
  assert.deepEqual([config.model.head, config.model.scale, config.train.mixup], [
    "cosine",
    30,
    0.4,
  ]);

  const npy = `${root}/npy`;
  const r = await lade(
    "evaluate",
    "--run",
    run,
    "--shift",
    "all",
    "--prior",
    "all",
    "--json",
    "--no-report",
    "--export-npy",
    npy,
  );
  assert.equal(r.code, 0, r.stderr);
  const evals = JSON.parse(r.stdout) as EvalJson[];
  assert.deepEqual(evals.map((e) => e.shift), [...SHIFT_GRID]);
  // Its predictions are the experts' mean: [N, C], not [N, 3C].
  const logits = await readNpy(`${npy}/logits.npy`);
  const labelsNpy = await readNpy(`${npy}/labels.npy`);
  const labels = Array.from(labelsNpy.data as BigInt64Array, Number);
  const counts = Array.from(
    (await readNpy(`${npy}/train_counts.npy`)).data as BigInt64Array,
    Number,
  );
  assert.deepEqual(logits.shape, [labels.length, 10]);
  const f = logits.data as Float32Array;
  for (const e of evals) {
    assert.deepEqual(Object.keys(e.results).sort(), [
      "balpoe",
      "balpoe_bbse",
      "balpoe_em",
      "balpoe_oracle",
    ]);
    // By hand: argmax f, and argmax f + log p_t with the shifted set's true prior.
    const indices = shiftIndices(Int32Array.from(labels), counts, e.shift);
    const total = e.counts.reduce((a, b) => a + b, 0);
    const logPt = e.counts.map((n) => Math.log(Math.max(n / total, 1e-12)));
    assert.ok(
      Math.abs(e.results.balpoe.top1 - top1(f, 10, labels, indices, logPt.map(() => 0))) < 1e-9,
    );
    assert.ok(Math.abs(e.results.balpoe_oracle.top1 - top1(f, 10, labels, indices, logPt)) < 1e-9);
  }
  // compare puts each variant in its prior section.
  const c = await lade("compare", run, "--json");
  assert.equal(c.code, 0, c.stderr);
  const entries =
    (JSON.parse(c.stdout) as { entries: { variant: string; prior: string }[] }).entries;
  const use = Object.fromEntries(entries.map((x) => [x.variant, x.prior]));
  assert.deepEqual(use, {
    balpoe_oracle: "known",
    balpoe_em: "em",
    balpoe_bbse: "bbse",
    balpoe: "none",
  });
  // estimate-prior works on the product's predictions.
  const est = await lade("estimate-prior", "--run", run, "--shift", "forward10", "--json");
  assert.equal(est.code, 0, est.stderr);
  assert.equal(JSON.parse(est.stdout).estimate.length, 10);
  await Deno.remove(root, { recursive: true });
});
