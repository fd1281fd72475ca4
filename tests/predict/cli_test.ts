/**
 * `predict` on foreign weights (no training counts in the file): a folder
 * among the inputs points at --dir, --dir takes a folder's images (its
 * subfolders too), --train-counts makes every prior rule possible, messages
 * name the prior file given, and --prior em prints the prior it estimated.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeImage } from "../../lib/data/mod.ts";
import { encodeNpy, readNpy } from "../../lib/eval/npy.ts";
import { Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { tensor } from "../../lib/torch/mod.ts";
import { exportWeights } from "../../lib/weights/model_weights.ts";
import { lade as ladeIn } from "../cli.ts";

/** `lade ARGS` in `cwd`. */
const lade = (args: string[], cwd: string) => ladeIn(args, { cwd });

/** A 28x28 grey PNG with a bright bar on row `row`. */
function bar(path: string, row: number) {
  const px = new Uint8Array(28 * 28).fill(20);
  for (let x = 4; x < 24; x++) px[row * 28 + x] = 255;
  using t = tensor(px, [1, 28, 28]);
  writeImage(t, path);
}

Deno.test("predict: --dir, a folder among the inputs, --train-counts, --prior em's estimate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-predict-" });
  try {
    manualSeed(3);
    using model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
    // No training counts and no method: weights made elsewhere.
    await exportWeights(model, join(dir, "w.safetensors"), {
      arch: "cnn28",
      classes: 10,
      inChannels: 1,
      head: "linear",
    });
    await Deno.mkdir(join(dir, "imgs", "b"), { recursive: true });
    bar(join(dir, "imgs", "x2.png"), 6);
    bar(join(dir, "imgs", "x10.png"), 10);
    bar(join(dir, "imgs", "b", "y.png"), 14);
    await Deno.writeTextFile(join(dir, "imgs", "notes.txt"), "not an image");
    const w = ["--weights", "w.safetensors"];

    let r = await lade(["predict", ...w, "imgs"], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      "lade: error: imgs is a folder; give image files or use --dir imgs",
    );

    r = await lade(["predict", ...w, "--dir", "imgs", "--json"], dir);
    assert.equal(r.code, 0, r.stderr);
    const byDir = JSON.parse(r.stdout);
    assert.deepEqual(
      byDir.predictions.map((p: { input: string }) => p.input),
      ["imgs/b/y.png", "imgs/x2.png", "imgs/x10.png"],
    );
    assert.equal(byDir.rule, "softmax");

    // A prior file needs the counts: the message names the file (it said 'FILE').
    await Deno.writeTextFile(join(dir, "p.json"), JSON.stringify(new Array(10).fill(0.1)));
    r = await lade(["predict", ...w, "--dir", "imgs", "--prior", "p.json"], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^lade: error: --prior: 'p\.json' needs the training class counts/);

    // With --train-counts: PC softmax, f - log p_s + log p_t, computed here.
    const counts = [500, 300, 200, 100, 60, 40, 20, 10, 6, 4];
    await Deno.writeTextFile(join(dir, "counts.json"), JSON.stringify(counts));
    r = await lade([
      "predict",
      ...w,
      "--dir",
      "imgs",
      "--train-counts",
      "counts.json",
      "--prior",
      "uniform",
      "--topk",
      "10",
      "--save-logits",
      "f.npy",
      "--json",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    const pc = JSON.parse(r.stdout);
    assert.equal(pc.rule, "pc_softmax");
    const f = await readNpy(join(dir, "f.npy"));
    const total = counts.reduce((a, b) => a + b, 0);
    pc.predictions.forEach((p: { top: { class: number; prob: number }[] }, i: number) => {
      const z = Array.from(
        (f.data as Float32Array).slice(i * 10, i * 10 + 10),
        (v, c) => v - Math.log(counts[c] / total) + Math.log(0.1),
      );
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      for (const t of p.top) assert.ok(Math.abs(t.prob - e[t.class] / s) < 1e-5);
    });
    r = await lade(["predict", "--run", "nowhere", "--train-counts", "counts.json", "x.png"], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--train-counts goes with --weights/);

    // --prior em: the estimate is printed, and is the JSON's target_prior.
    const batch = new Uint8Array(24 * 28 * 28);
    for (let i = 0; i < 24; i++) {
      for (let x = 4; x < 24; x++) batch[i * 784 + (2 + 2 * (i % 10)) * 28 + x] = 255;
    }
    await Deno.writeFile(
      join(dir, "x.npy"),
      encodeNpy({ dtype: "uint8", shape: [24, 1, 28, 28], data: batch }),
    );
    const em = ["--npy", "x.npy", "--train-counts", "counts.json", "--prior", "em"];
    r = await lade(["predict", ...w, ...em, "--json"], dir);
    assert.equal(r.code, 0, r.stderr);
    const estimate = JSON.parse(r.stdout).target_prior as number[];
    r = await lade(["predict", ...w, ...em], dir);
    assert.equal(r.code, 0, r.stderr);
    const line = /^target prior estimated by EM from 24 inputs: (.*)$/m.exec(r.stdout);
    assert.ok(line, r.stdout);
    assert.equal(line[1], estimate.map((p, c) => `${c} ${p.toFixed(3)}`).join(", "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
