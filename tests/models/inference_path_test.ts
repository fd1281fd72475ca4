/**
 * The fast inference path (eval mode, gradients off: batch norms folded,
 * cnn28's networks in oneDNN's blocked layout with weights reordered once,
 * ResNets' residual sum and ReLU as one pass, option-A shortcuts added in
 * place, ResNet-32's stages on lade's Winograd kernel where the CPU has
 * AVX-512, else its wider ones on oneDNN where the build has it) gives
 * the logits of the unfused path (eval mode with gradients on: every module
 * as it is) within 1e-4 (of the largest logit, when that is over 1), for
 * every family of networks.
 */

import assert from "node:assert/strict";
import { type Architecture, Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { noGrad, randn } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { buildInfo } from "../../lib/torch/cuda.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import { withEnv } from "./compare.ts";

const SHAPES: [Architecture, number[]][] = [
  ["cnn28", [1, 28, 28]],
  ["cnn28-sade", [1, 28, 28]],
  ["resnet32", [3, 32, 32]],
  ["resnet32-2branch", [3, 32, 32]],
  ["resnet32-proj", [3, 32, 32]],
  ["resnet32-sade", [3, 32, 32]],
  ["resnet18", [3, 48, 48]],
  ["resnet50", [3, 48, 48]],
];

Deno.test("fast inference logits are the unfused path's within 1e-4", () => {
  const before = liveTensors();
  for (const [arch, shape] of SHAPES) {
    manualSeed(3);
    using model = Model.create({ arch, classes: 5, inChannels: shape[0] });
    // Steps small enough that the deep torchvision networks stay in range.
    using opt = new SGD(model, {
      lr: arch === "resnet18" || arch === "resnet50" ? 0.01 : 0.1,
      momentum: 0.9,
    });
    // A few steps on shifted, scaled inputs: batch norms far from the identity.
    for (let i = 0; i < 2; i++) {
      scope(() => {
        opt.zeroGrad();
        model.forward(randn([8, ...shape]).mul(2).add(0.5)).logSoftmax(1).mean().neg().backward();
        opt.step();
      });
    }
    model.eval();
    scope(() => {
      const n = arch.startsWith("resnet") && !arch.startsWith("resnet32") ? 12 : 40;
      const x = randn([n, ...shape]).mul(2).add(0.5);
      const unfused = model.forward(x).detach();
      const fast = noGrad(() => model.forward(x));
      const diff = fast.sub(unfused).abs().max().item();
      const scale = unfused.abs().max().item();
      assert.ok(scale > 0.1, `${arch}: logits too small to compare (${scale})`);
      // 1e-4 of logits up to 1 in size, and as much relative to larger ones.
      assert.ok(
        diff <= 1e-4 * Math.max(1, scale),
        `${arch}: fast path differs by ${diff} (logits up to ${scale})`,
      );
      // A second pass reuses the prepared weights: the same logits exactly.
      const again = noGrad(() => model.forward(x));
      assert.equal(again.sub(fast).abs().max().item(), 0, `${arch}: second pass`);
    });
  }
  assert.equal(liveTensors(), before);
});

/** `model`'s eval-mode logits of `x` with gradients off, with the variables of `env` set. */
function logitsWith(model: Model, x: Tensor, env: Record<string, string>): Tensor {
  return withEnv(env, () => noGrad(() => model.forward(x)));
}

Deno.test({
  name:
    "ResNet-32 and cnn28 on oneDNN: libtorch's logits (exactly with direct convolutions), any batch, fresh weights",
  ignore: !buildInfo().onednn,
  fn: () => {
    const before = liveTensors();
    manualSeed(5);
    const shapes: [Architecture, number[]][] = [
      ["resnet32", [3, 32, 32]],
      ["resnet32-2branch", [3, 32, 32]],
      ["cnn28", [1, 28, 28]],
    ];
    for (const [arch, shape] of shapes) {
      using model = Model.create({ arch, classes: 7, inChannels: shape[0] });
      using opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
      const train = () =>
        scope(() => {
          opt.zeroGrad();
          model.forward(randn([8, ...shape]).mul(2).add(0.5)).logSoftmax(1).mean().neg()
            .backward();
          opt.step();
        });
      train();
      model.eval();
      // Odd batches and a batch size that changes between passes (the primitives are remade).
      for (const n of [1, 37, 64, 37]) {
        scope(() => {
          const x = randn([n, ...shape]).mul(2).add(0.5);
          // libtorch's path: no oneDNN of lade's own, no Winograd kernel of lade's own.
          const torch = logitsWith(model, x, { LADE_DNNL: "0", LADE_WINOGRAD: "0" });
          const direct = logitsWith(model, x, { LADE_WINOGRAD: "0" });
          const winograd = logitsWith(model, x, {});
          const scale = torch.abs().max().item();
          assert.ok(scale > 0.1, `${arch}: logits too small to compare (${scale})`);
          // oneDNN's direct convolutions are the ones libtorch calls: the same sums.
          assert.ok(direct.sub(torch).abs().max().item() <= 1e-5 * Math.max(1, scale), arch);
          const diff = winograd.sub(torch).abs().max().item();
          assert.ok(diff <= 1e-4 * Math.max(1, scale), `${arch}, ${n}: Winograd off by ${diff}`);
          assert.ok(diff > 0 || n === 1, `${arch}: the fast path did not run (no difference)`);
        });
      }
      // Training changes the weights: the next pass uses the new ones.
      model.train();
      train();
      model.eval();
      scope(() => {
        const x = randn([16, ...shape]);
        const torch = logitsWith(model, x, { LADE_DNNL: "0", LADE_WINOGRAD: "0" });
        const fast = logitsWith(model, x, {});
        const scale = torch.abs().max().item();
        assert.ok(fast.sub(torch).abs().max().item() <= 1e-4 * Math.max(1, scale), arch);
      });
    }
    assert.equal(liveTensors(), before);
  },
});
