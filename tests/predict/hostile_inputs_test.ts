/**
 * `predict` on hostile inputs (issue 21): probabilities stay numbers (logits
 * near float32's largest, a prior of ten 1e308s), NaN outputs are refused
 * rather than printed as "NaN%", a folder or a FIFO given as an image is said
 * to be one (without blocking), an image whose name is not UTF-8 is read,
 * and class names with terminal escapes or bidirectional overrides reach the
 * terminal escaped. The model is an untrained cnn28 written as lade's
 * safetensors here (no training needed).
 */

import assert from "node:assert/strict";
import { EXEC_MARKER_ENV } from "../../lib/torch/allocator.ts";
import { InputError } from "../../lib/errors.ts";
import { writeImage } from "../../lib/data/mod.ts";
import { Model } from "../../lib/models/mod.ts";
import { applyPrior, predictBatch, weightsPredictor } from "../../lib/predict/inputs.ts";
import { scope, tensor } from "../../lib/torch/mod.ts";
import { exportWeights } from "../../lib/weights/model_weights.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

/** Runs lade through bash, so that arguments can be raw bytes (`$(printf ...)`). */
/**
 * `lade ARGS` through bash (so that ARGS may hold bytes that are not UTF-8),
 * started as a user starts it: without the allocator the test runner
 * preloads, so lade re-executes itself to preload it, as it does for users.
 */
async function ladeSh(args: string, cwd: string) {
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      `unset LD_PRELOAD ${EXEC_MARKER_ENV}; exec "${Deno.execPath()}" run -A "${main}" ${args}`,
    ],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("probabilities from logits near 3e38 and a prior of 1e308s are numbers", () => {
  scope(() => {
    const model = { trainCounts: [30, 10, 3], method: "lade" };
    // float32 logits near its largest: softmax in float32 would give NaN (inf - inf).
    const logits = tensor([3e38, 3.3e38, -3e38, 1, 2, 3], [2, 3]);
    const r = applyPrior(model, logits, "uniform", 3);
    assert.deepEqual(r.predictions[0].classes, [1, 0, 2]);
    assert.deepEqual(r.predictions[0].probs, [1, 0, 0]);
    // exp(k - 3) / (e + e^2 + e^3) for the second row, by hand.
    const z = Math.E + Math.E ** 2 + Math.E ** 3;
    const expected = [Math.E ** 3 / z, Math.E ** 2 / z, Math.E / z];
    r.predictions[1].probs.forEach((p, i) => assert.ok(Math.abs(p - expected[i]) < 1e-6));
    // Ten 1e308s sum to Infinity; scaled first, they are the uniform prior.
    const huge = applyPrior(
      { trainCounts: new Array(3).fill(5), method: "lade" },
      logits,
      new Array(3).fill(1e308),
      3,
    );
    const uniform = applyPrior(
      { trainCounts: new Array(3).fill(5), method: "lade" },
      logits,
      "uniform",
      3,
    );
    assert.deepEqual(huge.targetPrior, [1 / 3, 1 / 3, 1 / 3]);
    assert.deepEqual(huge.predictions, uniform.predictions);
    // NaN outputs (NaN weights, NaN inputs): refused, never "NaN%".
    assert.throws(
      () => applyPrior(model, tensor([1, NaN, 2, 1, 2, 3], [2, 3]), "uniform", 2),
      (e: unknown) =>
        e instanceof InputError &&
        /^the model's outputs for input 1 are NaN or infinite \(damaged weights or inputs\); no probabilities to show$/
          .test(e.message),
    );
  });
});

Deno.test("inputs a network cannot take are said in their terms, not libtorch's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-predict-" });
  try {
    {
      using model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
      await exportWeights(model, `${dir}/w.safetensors`, {
        arch: "cnn28",
        classes: 3,
        inChannels: 1,
        head: "linear",
      });
    }
    const p = await weightsPredictor(`${dir}/w.safetensors`);
    try {
      using small = tensor(new Float32Array(2 * 20 * 20), [2, 1, 20, 20]);
      // Before: "forward: mat1 and mat2 shapes cannot be multiplied (2x512 and 1152x256)".
      assert.throws(
        () => predictBatch(p, small),
        (e: unknown) =>
          e instanceof InputError &&
          e.message ===
            "inputs of 20x20 pixels (1 channel(s)): cnn28 takes 28x28 images (resize them, or " +
              "give image files, which are resized as evaluation does)",
      );
      using none = tensor(new Float32Array(0), [0, 1, 28, 28]);
      // Before: "cat: torch.cat(): expected a non-empty list of Tensors".
      assert.throws(
        () => predictBatch(p, none),
        (e: unknown) =>
          e instanceof InputError &&
          e.message === "inputs of shape [0, ...]: there is nothing to predict",
      );
    } finally {
      p.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a folder, a FIFO, a name that is not UTF-8, and escapes in class names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-predict-" });
  try {
    {
      using model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
      await exportWeights(model, `${dir}/w.safetensors`, {
        arch: "cnn28",
        classes: 3,
        inChannels: 1,
        head: "linear",
        // A right-to-left override and an escape sequence: "evil\u202egpj.exe", "\u001b[2Jwipe".
        classNames: ["plain", "evil\u202egpj.exe", "\u001b[2Jwipe"],
        trainCounts: [30, 10, 3],
        imageSize: 28,
      });
    }
    const px = new Uint8Array(784).fill(20);
    using img = tensor(px, [1, 28, 28]);
    writeImage(img, `${dir}/plain.png`);
    // Renamed to Latin-1 bytes: caf\xe9.png.
    const raw = await new Deno.Command("bash", {
      args: ["-c", `mv plain.png "$(printf 'caf\\xe9.png')"; mkfifo pipe.png; mkdir folder.png`],
      cwd: dir,
    }).output();
    assert.ok(raw.success);
    await Deno.writeFile(
      `${dir}/list.txt`,
      Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x2e, 0x70, 0x6e, 0x67, 0x0a),
    );

    let r = await ladeSh(
      `predict --weights w.safetensors "$(printf 'caf\\xe9.png')" --topk 3`,
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.trim();
    assert.match(line, /^caf\ufffd\.png\t/);
    // Escaped, never the raw controls.
    // deno-lint-ignore no-control-regex
    assert.ok(!/[\u202e\u001b]/.test(r.stdout), JSON.stringify(r.stdout));
    assert.ok(line.includes("evil\ufffdgpj.exe") && line.includes("\ufffd[2Jwipe"), line);

    r = await ladeSh(`predict --weights w.safetensors --list list.txt --json`, dir);
    assert.equal(r.code, 0, r.stderr);
    // deno-lint-ignore no-control-regex
    assert.ok(!/[\u202e\u001b]/.test(r.stdout), "raw controls in the JSON output");
    const json = JSON.parse(r.stdout);
    assert.equal(json.predictions[0].input, "caf\udce9.png");
    // The JSON still carries the names exactly (as escapes).
    const names = json.predictions[0].top.map((t: { name: string }) => t.name).sort();
    assert.deepEqual(names, ["\u001b[2Jwipe", "evil\u202egpj.exe", "plain"].sort());

    // A folder listing decodes names lossily: said, not "cannot open caf\ufffd.png".
    r = await ladeSh(`predict --weights w.safetensors --dir .`, dir);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      "lade: error: . holds 'caf\ufffd.png', a name that is not UTF-8, which a folder listing " +
        "cannot open: rename it, or name its images on the command line or in a list file",
    );
    r = await ladeSh(`predict --weights w.safetensors folder.png`, dir);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.trim(),
      "lade: error: folder.png is a folder; give image files or use --dir folder.png",
    );
    r = await ladeSh(`predict --weights w.safetensors pipe.png`, dir);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.trim(),
      "lade: error: pipe.png is not a regular file (a FIFO, device or socket), not an image file",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
