/**
 * 3x3 convolutions of 16, 32 and 64 channels on lade's own Winograd kernel
 * (native/src/winograd16.cpp: ResNet-32's stages, and resnet32-sade's
 * shared 16-channel stage) give libtorch's logits in inference and its
 * losses and gradients in training (the 16- and 32-channel layers): the same passes with LADE_WINOGRAD=0
 * (libtorch's direct convolutions) are the reference, and LADE_DNNL=0 on
 * both sides keeps the wider stages on libtorch too, so that only this
 * kernel differs. Image sizes whose tiles overhang the edge (18, 30) and
 * batches whose tiles end mid-group cover the kernel's borders.
 */

import assert from "node:assert/strict";
import { type Architecture, Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { getNumThreads, manualSeed, setNumThreads } from "../../lib/torch/device.ts";
import { noGrad, randint, randn } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { buildInfo } from "../../lib/torch/cuda.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import { l2Diff, withEnv } from "./compare.ts";

/** Eval-mode logits of `x` with gradients off, with the variables of `env` set. */
function logitsWith(model: Model, x: Tensor, env: Record<string, string>): Tensor {
  return withEnv(env, () => noGrad(() => model.forward(x)));
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
    "lade's Winograd kernel in inference: libtorch's logits for ResNet-32's networks, any batch and size",
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
  name:
    "lade's Winograd kernel in inference: the same logits on any thread count, new weights used",
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

/**
 * Losses of seeded batches of 24 and 37 with the gradients of the stem's
 * and the 16- and 32-channel 3x3 convolutions' weights (those the kernel's
 * backward by data reaches, and those its layers' backward by weights
 * gives), then the losses of 2 SGD steps.
 */
function trainSteps(arch: Architecture): { losses: number[]; grads: Map<string, Float32Array>[] } {
  manualSeed(12);
  using model = Model.create({ arch, classes: 6, inChannels: 3 });
  using opt = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const losses: number[] = [];
  const grads: Map<string, Float32Array>[] = [];
  for (const [n, step] of [[24, false], [37, false], [32, true], [32, true]] as const) {
    scope(() => {
      opt.zeroGrad();
      const x = randn([n, 3, 32, 32]).mul(2).add(0.5);
      const y = randint(0, 6, [n]);
      const loss = model.forward(x).logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
      loss.backward();
      losses.push(loss.item());
      if (step) {
        opt.step();
        return;
      }
      // The stem's and the 16- and 32-channel stages' weights ([16, 3 or
      // 16, 3, 3], [32, 16 or 32, 3, 3]; SADE's experts have 24 channels),
      // sliced from the flat gradient (the parameters in order, end to end).
      const batch = new Map<string, Float32Array>();
      const flat = opt.flatGrad().toArray() as Float32Array;
      let offset = 0;
      const params = model.tensors("parameters");
      params.forEach((p, i) => {
        const [o, c, h] = p.shape;
        const n = p.shape.reduce((a, b) => a * b, 1);
        const stem16 = o === 16 && (c === 16 || c === 3);
        if (p.shape.length === 4 && h === 3 && (stem16 || (o === 32 && c >= 16))) {
          batch.set(`parameter ${i}`, flat.slice(offset, offset + n));
        }
        offset += n;
      });
      assert.equal(offset, flat.length);
      for (const p of params) p.dispose();
      grads.push(batch);
    });
  }
  return { losses, grads };
}

Deno.test({
  name: "lade's Winograd kernel in training: libtorch's losses and gradients",
  ignore: !buildInfo().winograd16,
  fn: () => {
    const before = liveTensors();
    for (const arch of ["resnet32", "resnet32-sade"] as Architecture[]) {
      const torch = withEnv(LIBTORCH, () => trainSteps(arch));
      const kernel = withEnv(KERNEL, () => trainSteps(arch));
      for (let i = 0; i < torch.losses.length; i++) {
        const d = Math.abs(torch.losses[i] - kernel.losses[i]);
        assert.ok(d <= 1e-3 * Math.max(1, torch.losses[i]), `${arch}: loss ${i} off by ${d}`);
      }
      // Relative L2 of each layer's weight gradient: 8.5e-3 at most here
      // (measured). As with oneDNN's Winograd (winograd_training_test.ts),
      // ReLU masks flip where a value rounds across zero and these deep
      // gradients amplify that; a wrong backward by data (the weight not
      // flipped) puts the stem's off by 1.4.
      for (let b = 0; b < torch.grads.length; b++) {
        // The stem and 10 stage-1 convolutions, and ResNet-32's 10 of stage 2.
        const layers = arch === "resnet32" ? 21 : 11;
        assert.equal(torch.grads[b].size, layers, `${arch}: the layers compared`);
        for (const [name, t] of torch.grads[b]) {
          const { diff, norm } = l2Diff(t, kernel.grads[b].get(name)!);
          assert.ok(norm > 1e-4, `${arch}: ${name}'s gradient too small to compare (${norm})`);
          assert.ok(
            diff <= 2e-2 * norm,
            `${arch}, batch ${b}: ${name}'s gradient off by ${diff} (norm ${norm})`,
          );
          assert.ok(diff > 0, `${arch}: the Winograd kernel did not run (no difference)`);
        }
      }
    }
    assert.equal(liveTensors(), before);
  },
});
