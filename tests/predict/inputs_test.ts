import assert from "node:assert/strict";
import { writeImage } from "../../lib/data/mod.ts";
import { InputError } from "../../lib/errors.ts";
import { Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { tensor } from "../../lib/torch/mod.ts";
import { predictImages, weightsPredictor } from "../../lib/predict/inputs.ts";
import { exportWeights } from "../../lib/weights/model_weights.ts";

Deno.test("predictImages: chunks give the rows of one batch; bad files skipped or named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    manualSeed(0);
    using model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
    await exportWeights(model, `${dir}/w.safetensors`, {
      arch: "cnn28",
      classes: 3,
      inChannels: 1,
      head: "linear",
      trainCounts: [5, 3, 1],
    });
    const p = await weightsPredictor(`${dir}/w.safetensors`);
    try {
      const paths: string[] = [];
      for (let i = 0; i < 5; i++) {
        // Colour images of another size: made grey, resized and cropped to 28.
        const px = new Uint8Array(3 * 40 * 36).map((_, j) => (j * (i + 3)) % 251);
        using img = tensor(px, [3, 40, 36]);
        writeImage(img, `${dir}/${i}.png`);
        paths.push(`${dir}/${i}.png`);
      }
      await Deno.writeTextFile(`${dir}/bad.png`, "no");
      const mixed = [paths[0], paths[1], `${dir}/bad.png`, paths[2], paths[3], paths[4]];
      const whole = predictImages(p, paths);
      const chunked = predictImages(p, mixed, { skipBad: true, chunk: 1 });
      try {
        assert.deepEqual(chunked.paths, paths);
        assert.deepEqual(chunked.skipped.map((s) => s.path), [`${dir}/bad.png`]);
        assert.deepEqual([...chunked.logits.shape], [5, 3]);
        const a = whole.logits.toArray() as Float32Array,
          b = chunked.logits.toArray() as Float32Array;
        a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-5));
      } finally {
        whole.logits.dispose();
        chunked.logits.dispose();
      }
      assert.throws(
        () => predictImages(p, mixed),
        (e: unknown) => e instanceof InputError && /bad\.png/.test(e.message),
      );
      assert.throws(
        () => predictImages(p, [`${dir}/bad.png`], { skipBad: true }),
        /no readable images among the inputs/,
      );
    } finally {
      p.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
