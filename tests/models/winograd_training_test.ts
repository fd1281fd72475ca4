/**
 * Training's wider 3x3 convolutions on oneDNN's Winograd kernels
 * (native/src/train_dnnl.cpp) give libtorch's losses and gradients: the same
 * seeded steps run with LADE_WINOGRAD=0 (libtorch's convolutions) and with
 * the default, for networks whose layers take it (cnn28's 32- and 64-channel
 * inputs, ResNet-32's stages 2 and 3, resnet32-sade's 48-channel experts),
 * batch sizes that change between steps, and inputs that need no gradient.
 */

import assert from "node:assert/strict";
import { type Architecture, Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { getNumThreads, manualSeed, setNumThreads } from "../../lib/torch/device.ts";
import { randint, randn } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { buildInfo } from "../../lib/torch/cuda.ts";
import { l2Diff, withEnv } from "./compare.ts";

/**
 * Losses and gradients of seeded batches of 24, 37 and 24 on the same
 * weights (no step between them: the primitives of two batch shapes, one
 * made again), then the losses of 3 SGD steps.
 */
function train(arch: Architecture, shape: number[]): { losses: number[]; grads: Float32Array[] } {
  manualSeed(11);
  using model = Model.create({ arch, classes: 6, inChannels: shape[0] });
  using opt = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const losses: number[] = [];
  const grads: Float32Array[] = [];
  const batch = (n: number) => {
    opt.zeroGrad();
    const x = randn([n, ...shape]).mul(2).add(0.5);
    const y = randint(0, 6, [n]);
    const loss = model.forward(x).logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
    loss.backward();
    losses.push(loss.item());
  };
  for (const n of [24, 37, 24]) {
    scope(() => {
      batch(n);
      grads.push((opt.flatGrad().toArray() as Float32Array).slice());
    });
  }
  for (let i = 0; i < 3; i++) {
    scope(() => {
      batch(32);
      opt.step();
    });
  }
  return { losses, grads };
}

Deno.test({
  name: "Winograd training convolutions: libtorch's losses and gradients, any batch",
  ignore: !buildInfo().onednn,
  fn: () => {
    const before = liveTensors();
    // Relative tolerance of the gradient vector (L2). Winograd's results are
    // within 1e-6 of the direct convolution's per layer (oneDNN's own
    // accuracy, measured), and cnn28's gradients stay that close. ResNet-32's
    // do not, and need not: ReLU masks flip where a value rounds across zero,
    // and plain libtorch moves by 3e-3 (relative) for a 1e-6 change of the
    // input (measured); a wrong layout or a missing term gives errors of order 1.
    const cases: [Architecture, number[], number][] = [
      ["cnn28", [1, 28, 28], 2e-5],
      ["resnet32", [3, 32, 32], 2e-2],
      ["resnet32-sade", [3, 32, 32], 2e-2],
    ];
    for (const [arch, shape, tolerance] of cases) {
      const torch = withEnv({ LADE_WINOGRAD: "0" }, () => train(arch, shape));
      const winograd = withEnv({}, () => train(arch, shape));
      // The steps' losses drift apart a little as the weights do.
      for (let i = 0; i < torch.losses.length; i++) {
        const d = Math.abs(torch.losses[i] - winograd.losses[i]);
        assert.ok(d <= 1e-3 * Math.max(1, torch.losses[i]), `${arch}: loss ${i} off by ${d}`);
      }
      for (let b = 0; b < torch.grads.length; b++) {
        const { diff, norm } = l2Diff(torch.grads[b], winograd.grads[b]);
        assert.ok(norm > 1e-3, `${arch}: gradients too small to compare (${norm})`);
        assert.ok(
          diff <= tolerance * norm,
          `${arch}, batch ${b}: gradients off by ${diff} (norm ${norm})`,
        );
        assert.ok(diff > 0, `${arch}: the Winograd path did not run (no difference)`);
      }
    }
    assert.equal(liveTensors(), before);
  },
});

Deno.test({
  name: "Winograd training convolutions: the thread count may change between steps and mid-step",
  ignore: !buildInfo().onednn,
  fn: () => {
    // oneDNN sizes a primitive's scratch memory and work split for the
    // threads at its creation; lade makes one per thread count (this
    // crashed in a process whose thread count changed between primitives).
    const before = liveTensors();
    const threads = getNumThreads();
    try {
      manualSeed(2);
      using model = Model.create({ arch: "cnn28", classes: 4, inChannels: 1 });
      using opt = new SGD(model, { lr: 0.05, momentum: 0.9 });
      for (const [forward, backward] of [[1, 2], [2, 1], [2, 2], [1, 1], [3, 1]]) {
        scope(() => {
          opt.zeroGrad();
          setNumThreads(forward);
          const loss = model.forward(randn([20, 1, 28, 28])).logSoftmax(1).mean().neg();
          setNumThreads(backward);
          loss.backward();
          opt.step();
          assert.ok(Number.isFinite(loss.item()));
        });
      }
    } finally {
      setNumThreads(threads);
    }
    assert.equal(liveTensors(), before);
  },
});
