import assert from "node:assert/strict";
import { loadDataset } from "../../lib/data/mod.ts";
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
