/**
 * The command line of weights in and out and of predict, end to end on the
 * tiny MNIST-format fixture: train, export, inspect, train --init, predict on
 * PNG/JPEG files and on .npy batches. Each command's one-line refusal is seen
 * through the command line once; its other refusals call the command
 * in-process and check the line main.ts would print (lib/cli/errors.ts).
 * Each command and output kind runs through the command line at least once;
 * further runs of them are called in-process and their printed output read.
 */
import assert from "node:assert/strict";
import { readWeightsFile } from "../../lib/weights/model_weights.ts";
import { writeImage } from "../../lib/data/mod.ts";
import { encodeNpy, parseNpy } from "../../lib/eval/npy.ts";
import { Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { tensor } from "../../lib/torch/mod.ts";
import { exportWeights } from "../../lib/weights/model_weights.ts";
import {
  weightsConvertCommand,
  weightsExportCommand,
  weightsInspectCommand,
} from "../../lib/cli/weights.ts";
import { predictCommand } from "../../lib/cli/predict.ts";
import { trainEntry } from "../../lib/cli/train_seeds.ts";
import { writeFixture } from "../train/fixture.ts";
import { assertOneLineError, lade as ladeIn, printed } from "../cli.ts";
import { refuses } from "../refusal.ts";

/** `lade ARGS` in `cwd`. */
const lade = (args: string[], cwd: string) => ladeIn(args, { cwd });

/** `command` (lade ARGS, in-process) refuses them with one line matching `re`. */
const refused = (command: Promise<unknown>, args: string[], re: RegExp) =>
  refuses(() => command, re, args);

/** A 28x28 grey image of the fixture's class `c`: a bright bar on row 2 + 2c. */
function barImage(c: number): Uint8Array {
  const px = new Uint8Array(28 * 28).fill(20);
  for (let x = 4; x < 24; x++) px[(2 + 2 * c) * 28 + x] = 255;
  return px;
}

Deno.test("weights export / inspect, train --init, predict on images and .npy", async () => {
  // The assertions need a trained model, not a good one: a small fixture, one epoch.
  const root = await writeFixture(12, 3);
  const dir = await Deno.makeTempDir({ prefix: "lade-weights-" });
  try {
    await Deno.writeTextFile(
      `${dir}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    let r = await lade(["train", "--config", "tiny.yaml", "--out", "run1"], dir);
    assert.equal(r.code, 0, r.stderr);

    // ---- export and inspect
    r = await lade(["weights", "export", "run1", "--out", "w.safetensors"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote w\.safetensors: cnn28, 10 classes/);
    r = await lade(["weights", "inspect", "w.safetensors", "--json"], dir);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.format, "safetensors");
    assert.equal(info.metadata.arch, "cnn28");
    assert.equal(info.metadata.classes, "10");
    assert.equal(info.metadata.method, "lade");
    assert.deepEqual(info.tensors.at(-1), { name: "head.bias", dtype: "float32", shape: [10] });
    r = await lade(["weights", "inspect", "w.safetensors"], dir);
    assert.match(r.stdout, /^head\.weight\s+float32\s+\[10, 256\]$/m);
    assertOneLineError(
      await lade(["weights", "export", "nowhere", "--out", "x.safetensors"], dir),
      /nowhere/,
    );
    // The output's folder is made (before: "No such file or directory").
    // (in-process: weights export run1 --out new/folder/w.safetensors)
    await printed(() =>
      weightsExportCommand(`${dir}/run1`, { out: `${dir}/new/folder/w.safetensors` })
    );
    assert.deepEqual(
      (await readWeightsFile(`${dir}/new/folder/w.safetensors`)).tensors.get("head.bias"),
      (await readWeightsFile(`${dir}/w.safetensors`)).tensors.get("head.bias"),
    );
    await refused(
      weightsInspectCommand(`${dir}/tiny.yaml`, {}),
      ["weights", "inspect", "tiny.yaml"],
      /tiny\.yaml: not a valid safetensors file/,
    );

    // ---- train --init: the exported weights start the new run; the config says so
    r = await lade(
      ["train", "--config", "tiny.yaml", "--out", "run2", "--init", "w.safetensors"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(await Deno.readTextFile(`${dir}/run2/config.yaml`), /init: w\.safetensors/);
    // Another class count: strict loading names the head, --init-skip head loads the rest.
    manualSeed(5);
    using five = Model.create({ arch: "cnn28", classes: 5, inChannels: 1 });
    await exportWeights(five, `${dir}/five.safetensors`, {
      arch: "cnn28",
      classes: 5,
      inChannels: 1,
      head: "linear",
    });
    assertOneLineError(
      await lade(
        ["train", "--config", "tiny.yaml", "--out", "run3", "--init", "five.safetensors"],
        dir,
      ),
      /"head\.weight" has shape \[5, 256\].*--init-skip head/,
    );
    r = await lade(
      [
        "train",
        "--config",
        "tiny.yaml",
        "--out",
        "run3",
        "--init",
        "five.safetensors",
        "--init-skip",
        "head",
      ],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    await refused(
      trainEntry({
        config: `${dir}/tiny.yaml`,
        out: `${dir}/run4`,
        init: `${dir}/run1/config.yaml`,
      }),
      ["train", "--config", "tiny.yaml", "--out", "run4", "--init", "run1/config.yaml"],
      /run1\/config\.yaml: not a valid safetensors file/,
    );
    await refused(
      trainEntry({ resume: `${dir}/run2`, init: `${dir}/w.safetensors` }),
      ["train", "--resume", "run2", "--init", "w.safetensors"],
      /--init cannot be combined with --resume/,
    );

    // ---- inspect a PyTorch file; convert (a file through a lade model)
    const fixtures = new URL("./fixtures/", import.meta.url).pathname;
    // (in-process, its printed JSON: weights inspect lade_layout.pth --json)
    const pth = JSON.parse(
      await printed(() => weightsInspectCommand(`${fixtures}lade_layout.pth`, { json: true })),
    );
    assert.equal(pth.format, "pytorch");
    assert.deepEqual(pth.tensors.map((t: { name: string }) => t.name), [
      "conv1.weight",
      "bn1.running_mean",
      "fc.weight",
      "fc.bias",
    ]);
    await refused(
      weightsConvertCommand(`${fixtures}tiny.pth`, { out: `${dir}/t.safetensors` }),
      ["weights", "convert", `${fixtures}tiny.pth`, "--out", "t.safetensors"],
      /does not name its architecture; pass --arch/,
    );
    r = await lade(["weights", "convert", "w.safetensors", "--out", "again.safetensors"], dir);
    assert.equal(r.code, 0, r.stderr);
    const again = JSON.parse(
      await printed(() => weightsInspectCommand(`${dir}/again.safetensors`, { json: true })),
    );
    assert.deepEqual(again.tensors, info.tensors);
    assert.equal(again.metadata.arch, "cnn28");

    // ---- predict on images
    for (const c of [1, 4, 8]) {
      using img = tensor(barImage(c), [1, 28, 28]);
      writeImage(img, `${dir}/bar${c}.${c === 4 ? "jpg" : "png"}`);
    }
    await Deno.writeTextFile(`${dir}/broken.png`, "not a png");
    // (--save-logits: the PNGs' logits, compared with an .npy batch's below.)
    r = await lade([
      "predict",
      "--weights",
      "w.safetensors",
      "bar1.png",
      "bar4.jpg",
      "bar8.png",
      "--json",
      "--topk",
      "10",
      "--save-logits",
      "png.npy",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.prior, "uniform");
    assert.equal(out.rule, "lade");
    assert.deepEqual(out.predictions.map((p: { input: string }) => p.input), [
      "bar1.png",
      "bar4.jpg",
      "bar8.png",
    ]);
    for (const p of out.predictions) {
      assert.equal(p.top.length, 10);
      const probs = p.top.map((t: { prob: number }) => t.prob);
      probs.slice(1).forEach((q: number, i: number) => assert.ok(probs[i] >= q));
      assert.ok(probs.reduce((a: number, b: number) => a + b, 0) <= 1 + 1e-6);
    }
    assertOneLineError(
      await lade(["predict", "--run", "run2", "bar1.png", "broken.png"], dir),
      /broken\.png/,
    );
    r = await lade(
      ["predict", "--run", "run2", "bar1.png", "broken.png", "--skip-bad-images"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: skipped .*broken\.png/);
    assert.match(r.stdout, /^bar1\.png\t/);
    await refused(
      predictCommand([`${dir}/bar1.png`], {}),
      ["predict", "bar1.png"],
      /exactly one of --run DIR and --weights FILE/,
    );
    await Deno.mkdir(`${dir}/imgs`);
    await Deno.copyFile(`${dir}/bar8.png`, `${dir}/imgs/b8.png`);
    await Deno.writeTextFile(`${dir}/imgs/list.txt`, "# images\nb8.png 8\n../bar1.png\n");
    r = await lade(
      ["predict", "--run", "run2", "--list", "imgs/list.txt", "--json", "--topk", "1"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).predictions.map((p: { input: string }) => p.input),
      ["imgs/b8.png", "bar1.png"],
    );

    // ---- the same pixels as an .npy batch give the same logits; float32
    // inputs are taken as normalised
    const n = 24;
    const pixels = new Uint8Array(n * 784);
    for (let i = 0; i < n; i++) pixels.set(barImage(i % 10), i * 784);
    await Deno.writeFile(
      `${dir}/batch.npy`,
      encodeNpy({ dtype: "uint8", shape: [n, 1, 28, 28], data: pixels }),
    );
    r = await lade([
      "predict",
      "--weights",
      "w.safetensors",
      "--npy",
      "batch.npy",
      "--save-logits",
      "u8.npy",
      "--json",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    const u8 = parseNpy(await Deno.readFile(`${dir}/u8.npy`));
    const png = parseNpy(await Deno.readFile(`${dir}/png.npy`));
    assert.deepEqual(u8.shape, [n, 10]);
    // The same pixels (the PNGs decoded and cropped to themselves; bar1.png
    // and bar8.png, rows 0 and 2, are items 1 and 8 of the batch); the batch
    // size changes the float rounding only.
    assert.deepEqual(png.shape, [3, 10]);
    for (const [row, item] of [[0, 1], [2, 8]]) {
      for (let i = 0; i < 10; i++) {
        const v = (png.data as Float32Array)[row * 10 + i];
        const w = (u8.data as Float32Array)[item * 10 + i];
        assert.ok(Math.abs(v - w) < 1e-5, `bar${item}: logit ${i}`);
      }
    }
    const mean = 0.1307, std = 0.3081; // MNIST's, recorded in the file's metadata
    const normalised = Float32Array.from(pixels, (v) => (v / 255 - mean) / std);
    await Deno.writeFile(
      `${dir}/f32.npy`,
      encodeNpy({ dtype: "float32", shape: [n, 1, 28, 28], data: normalised }),
    );
    // (in-process: predict --weights w.safetensors --npy f32.npy --save-logits f32_logits.npy)
    await printed(() =>
      predictCommand([], {
        weights: `${dir}/w.safetensors`,
        npy: `${dir}/f32.npy`,
        saveLogits: `${dir}/f32_logits.npy`,
      })
    );
    const f32 = parseNpy(await Deno.readFile(`${dir}/f32_logits.npy`));
    const maxDiff = Math.max(
      ...Array.from(f32.data as Float32Array, (v, i) => Math.abs(v - (u8.data as Float32Array)[i])),
    );
    assert.ok(maxDiff < 1e-4, `max difference ${maxDiff}`);

    // ---- priors: em from the inputs (enough of them), a JSON file, train
    // (in-process, its printed JSON: predict --run run2 --npy batch.npy --prior em --json)
    const em = JSON.parse(
      await printed(() =>
        predictCommand([], {
          run: `${dir}/run2`,
          npy: `${dir}/batch.npy`,
          prior: "em",
          json: true,
        })
      ),
    );
    assert.equal(em.target_prior.length, 10);
    assert.ok(Math.abs(em.target_prior.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-6);
    await refused(
      predictCommand([`${dir}/bar1.png`], { run: `${dir}/run2`, prior: "em" }),
      ["predict", "--run", "run2", "bar1.png", "--prior", "em"],
      /em needs at least 20 inputs/,
    );
    const skewed = [50, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    await Deno.writeTextFile(`${dir}/prior.json`, JSON.stringify(skewed));
    r = await lade([
      "predict",
      "--weights",
      "w.safetensors",
      "bar4.jpg",
      "--prior",
      "prior.json",
      "--json",
      "--topk",
      "10",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    const withPrior = JSON.parse(r.stdout);
    // Without a prior: bar4.jpg's prediction (the second) of the first predict above.
    const uniform = { predictions: [out.predictions[1]] };
    const probOf = (o: { predictions: { top: { class: number; prob: number }[] }[] }, c: number) =>
      o.predictions[0].top.find((t) => t.class === c)!.prob;
    assert.ok(
      probOf(withPrior, 0) > probOf(uniform, 0),
      "a prior favouring class 0 raises its probability",
    );
    await Deno.writeTextFile(`${dir}/short.json`, "[1, 2]");
    await refused(
      predictCommand([`${dir}/bar4.jpg`], { run: `${dir}/run2`, prior: `${dir}/short.json` }),
      ["predict", "--run", "run2", "bar4.jpg", "--prior", "short.json"],
      /needs 10 non-negative numbers/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
