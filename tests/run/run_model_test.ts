/**
 * modelFromManifest builds the network a run's manifest describes: the
 * same network (same seed, same logits) as Model.create given the
 * manifest's architecture, class count, channels, head and scale by hand.
 */

import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";
import { InputError } from "../../lib/errors.ts";
import { type Head, Model } from "../../lib/models/model.ts";
import { modelFromManifest } from "../../lib/run/run_model.ts";
import { manualSeed, noGrad, randn } from "../../lib/torch/mod.ts";
import { liveTensors } from "../../lib/torch/memory.ts";

function manifest(head: Head, scale: number) {
  const config = structuredClone(DEFAULT_CONFIG);
  config.model.head = head;
  config.model.scale = scale;
  return { arch: "cnn28", classes: 4, inChannels: 1, config };
}

/** The eval-mode logits of `model` on a fixed batch of 3 grey 28x28 images. */
function logits(model: Model): number[] {
  model.eval();
  manualSeed(7);
  using x = randn([3, 1, 28, 28]);
  using y = noGrad(() => model.forward(x));
  assert.deepEqual(y.shape, [3, 4]);
  return [...y.toArray()] as number[];
}

Deno.test("modelFromManifest: the manifest's architecture, classes, channels, head and scale", () => {
  const live = liveTensors();
  for (const [head, scale] of [["linear", 16], ["cosine", 2]] as const) {
    manualSeed(1);
    using fromManifest = modelFromManifest(manifest(head, scale));
    manualSeed(1);
    using byHand = Model.create({ arch: "cnn28", classes: 4, inChannels: 1, head, scale });
    assert.equal(fromManifest.arch, "cnn28");
    assert.equal(fromManifest.classes, 4);
    assert.equal(fromManifest.device, "cpu");
    const a = logits(fromManifest);
    assert.deepEqual(a, logits(byHand));
    // A cosine head's logits are scale * cos: at most the scale in size.
    if (head === "cosine") assert.ok(a.every((v) => Math.abs(v) <= scale + 1e-5), String(a));
  }
  // Another head, the same seed: other logits (the head is not ignored).
  manualSeed(1);
  using linear = modelFromManifest(manifest("linear", 2));
  manualSeed(1);
  using cosine = modelFromManifest(manifest("cosine", 2));
  assert.notDeepEqual(logits(linear), logits(cosine));
  assert.equal(liveTensors(), live);
});

Deno.test("modelFromManifest: an architecture this build lacks is an InputError naming arch", () => {
  assert.throws(
    () => modelFromManifest({ ...manifest("linear", 16), arch: "resnet9000" }),
    (e: unknown) => e instanceof InputError && e.parameter === "arch",
  );
});
