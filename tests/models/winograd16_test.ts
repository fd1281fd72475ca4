/**
 * Inference's 16-channel convolutions on lade's own Winograd kernel
 * (native/src/winograd16.cpp: ResNet-32's first stage, shared by
 * resnet32-sade's experts) give libtorch's logits: the same eval-mode pass
 * with LADE_WINOGRAD=0 (libtorch's direct convolutions) is the reference,
 * and LADE_DNNL=0 on both sides keeps the wider stages on libtorch too, so
 * that only this kernel differs. Image sizes whose tiles overhang the edge
 * (18, 30) and batches whose tiles end mid-group cover the kernel's borders.
 */

import assert from "node:assert/strict";
import { type Architecture, Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { getNumThreads, manualSeed, setNumThreads } from "../../lib/torch/device.ts";
import { noGrad, randn } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { buildInfo } from "../../lib/torch/cuda.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

/** Eval-mode logits of `x` with gradients off, with the variables of `env` set. */
function logitsWith(model: Model, x: Tensor, env: Record<string, string>): Tensor {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  try {
    return noGrad(() => model.forward(x));
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

const LIBTORCH = { LADE_DNNL: "0", LADE_WINOGRAD: "0" };
const KERNEL = { LADE_DNNL: "0" };

/** Two SGD steps on shifted inputs (batch norms far from the identity), then eval mode. */
function steps(model: Model, opt: SGD, size: number): void {
  model.train();
  for (let i = 0; i < 2; i++) {
    scope(() => {
      opt.zeroGrad();
      model.forward(randn([8, 3, size, size]).mul(2).add(0.5)).logSoftmax(1).mean().neg()
        .backward();
      opt.step();
    });
  }
  model.eval();
}

/** Asserts the kernel's logits are libtorch's within 1e-4 (of the largest, when over 1) and differ. */
function assertClose(model: Model, x: Tensor, what: string): void {
  const torch = logitsWith(model, x, LIBTORCH);
  const kernel = logitsWith(model, x, KERNEL);
  const scale = torch.abs().max().item();
  assert.ok(scale > 0.1, `${what}: logits too small to compare (${scale})`);
  const diff = kernel.sub(torch).abs().max().item();
  assert.ok(diff <= 1e-4 * Math.max(1, scale), `${what}: the kernel is off by ${diff} (${scale})`);
  // Winograd's sums round differently from the direct ones: equal logits
  // would mean the kernel did not run.
  assert.ok(diff > 0, `${what}: the Winograd kernel did not run (no difference)`);
}

Deno.test({
  name:
    "16-channel Winograd inference: libtorch's logits for ResNet-32's networks, any batch and size",
  ignore: !buildInfo().winograd16,
  fn: () => {
    const before = liveTensors();
    manualSeed(7);
    const cases: [Architecture, number][] = [
      ["resnet32", 32],
      ["resnet32", 18],
      ["resnet32", 30],
      ["resnet32-2branch", 32],
      ["resnet32-sade", 32],
    ];
    for (const [arch, size] of cases) {
      using model = Model.create({ arch, classes: 7, inChannels: 3 });
      using opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
      steps(model, opt, size);
      // 1 image: 64 tiles at 32 pixels, four whole groups; 3 at 18 pixels:
      // 75 tiles, the last group part-empty; 37: many groups on each thread.
      for (const n of [1, 3, 37]) {
        scope(() => {
          const x = randn([n, 3, size, size]).mul(2).add(0.5);
          assertClose(model, x, `${arch} at ${size} px, batch ${n}`);
        });
      }
    }
    assert.equal(liveTensors(), before);
  },
});

Deno.test({
  name: "16-channel Winograd inference: the same logits on any thread count, new weights used",
  ignore: !buildInfo().winograd16,
  fn: () => {
    const before = liveTensors();
    const threads = getNumThreads();
    try {
      manualSeed(8);
      using model = Model.create({ arch: "resnet32", classes: 5, inChannels: 3 });
      using opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
      steps(model, opt, 32);
      scope(() => {
        const x = randn([21, 3, 32, 32]).mul(2).add(0.5);
        // Each tile is computed whole by one thread: the split cannot change a sum.
        setNumThreads(1);
        const one = logitsWith(model, x, KERNEL);
        setNumThreads(2);
        const two = logitsWith(model, x, KERNEL);
        setNumThreads(3);
        const three = logitsWith(model, x, KERNEL);
        assert.equal(two.sub(one).abs().max().item(), 0);
        assert.equal(three.sub(one).abs().max().item(), 0);
      });
      // Training steps change the weights: the transformed ones are made again.
      steps(model, opt, 32);
      scope(() => assertClose(model, randn([9, 3, 32, 32]).mul(2), "after a step"));
    } finally {
      setNumThreads(threads);
    }
    assert.equal(liveTensors(), before);
  },
});
