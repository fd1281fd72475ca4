import assert from "node:assert/strict";
import { BatchLoader, loadDataset, writeImage } from "../../lib/data/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { predictLogits, predictViews } from "../../lib/predict/logits.ts";
import { writeFixture } from "../train/fixture.ts";

Deno.test("predictViews: [epochs, 2, N, 3C] logits of seeded augmented views, model mode kept", async () => {
  const root = await writeFixture(4, 3);
  const data = await loadDataset({ dataset: "mnist", root });
  manualSeed(0);
  using model = Model.create({ arch: "cnn28-sade", classes: 10, inChannels: 1 });
  const opts = { device: "cpu" as const, batchSize: 7, epochs: 2, seed: 3 };
  const before = liveTensors();
  using views = await predictViews(model, data.test, data, opts);
  assert.equal(liveTensors(), before + 1);
  assert.deepEqual(views.shape, [2, 2, 30, 30]);
  assert.equal(model.training, true);
  using again = await predictViews(model, data.test, data, opts);
  assert.deepEqual(again.toArray(), views.toArray());
  using other = await predictViews(model, data.test, data, { ...opts, seed: 4 });
  assert.notDeepEqual(other.toArray(), views.toArray());
  // The views differ from each other and from the plain images' logits.
  using plain = await predictLogits(model, data.test, data, { device: "cpu", batchSize: 7 });
  scope(() => {
    const a = views.select(0, 0).select(0, 0);
    const b = views.select(0, 0).select(0, 1);
    assert.ok(a.sub(b).abs().max().item() > 1e-3);
    assert.ok(a.sub(plain).abs().max().item() > 1e-3);
  });
  data.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("views of image files: the loader's random-resized crops in file order, their scale as asked", async () => {
  const dir = await Deno.makeTempDir();
  // Four 40x30 images, each a horizontal ramp of its own colour: crops of
  // another area give other pixels.
  const lines: string[] = [];
  for (let i = 0; i < 4; i++) {
    const w = 40, h = 30;
    const px = new Uint8Array(3 * w * h);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) px[c * w * h + y * w + x] = (6 * x + 50 * i + 30 * c) % 256;
      }
    }
    using t = tensor(px, [3, h, w]);
    writeImage(t, `${dir}/im${i}.png`);
    lines.push(`im${i}.png ${i % 2}`);
  }
  await Deno.writeTextFile(`${dir}/Toy_LT_train.txt`, lines.join("\n") + "\n");
  await Deno.writeTextFile(`${dir}/Toy_LT_test.txt`, lines.join("\n") + "\n");
  const data = await loadDataset({ dataset: "image-list", root: dir, imageSize: 16 });
  try {
    // The loader: file order though augmenting; crops of the whole image at scale 1.
    const batches = async (cropScale?: [number, number], epoch = 0) => {
      using loader = new BatchLoader(data.test, data, {
        batchSize: 4,
        train: true,
        ordered: true,
        flip: false,
        device: "cpu",
        seed: 1,
        ...(cropScale ? { cropScale } : {}),
      });
      for await (const b of loader.epoch(epoch)) {
        try {
          assert.deepEqual(Array.from(b.labels.toArray() as BigInt64Array, Number), [0, 1, 0, 1]);
          return b.images.toArray() as Float32Array;
        } finally {
          b.dispose();
        }
      }
      throw new Error("no batch");
    };
    const whole = [await batches([1, 1], 0), await batches([1, 1], 1)];
    assert.deepEqual(whole[0], whole[1], "scale 1: the whole image every time");
    const small = [await batches([0.1, 0.1], 0), await batches([0.1, 0.1], 1)];
    assert.notDeepEqual(small[0], small[1], "small crops move about");
    assert.throws(
      () =>
        new BatchLoader(data.test, data, {
          batchSize: 2,
          train: true,
          device: "cpu",
          seed: 0,
          cropScale: [0.5, 0.2],
        }),
      /cropScale/,
    );

    manualSeed(1);
    using model = Model.create({ arch: "resnet32-sade", classes: 2, inChannels: 3 });
    const opts = {
      device: "cpu" as const,
      batchSize: 3,
      epochs: 1,
      seed: 2,
      cropScale: [0.2, 1] as [number, number],
    };
    using views = await predictViews(model, data.test, data, opts);
    assert.deepEqual(views.shape, [1, 2, 4, 6]);
    using again = await predictViews(model, data.test, data, opts);
    assert.deepEqual(again.toArray(), views.toArray());
  } finally {
    data.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
