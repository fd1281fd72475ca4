// Eval-mode inference with batch norms folded into their convolutions
// (native/src/model_fold.cpp) against a reference computed without folding:
// the same eval-mode model with gradients on, which runs every batch norm as
// its own module on its running statistics. Also: the folded weights follow
// every change of the weights (steps, loading, train/eval switches), and the
// logits of the inference path are normal tensors later autograd can use.
import assert from "node:assert/strict";
import { type Architecture, Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { noGrad, randn, tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

const SHAPES: Record<string, number[]> = {
  cnn28: [1, 28, 28],
  resnet32: [3, 32, 32],
  "resnet32-2branch": [3, 32, 32],
  "resnet32-proj": [3, 32, 32],
  resnet10: [3, 64, 64],
};

/** Cross-entropy towards the uniform distribution: bounded gradients, so a few large steps stay finite. */
function lossOf(logits: Tensor): Tensor {
  return logits.logSoftmax(1).mean().neg();
}

/** A model whose batch norms have non-trivial affine parameters and running statistics. */
function trained(arch: Architecture, seed: number): Model {
  manualSeed(seed);
  const shape = SHAPES[arch];
  const model = Model.create({ arch, classes: 7, inChannels: shape[0] });
  using opt = new SGD(model, { lr: 0.2, momentum: 0.9 });
  for (let i = 0; i < 3; i++) {
    scope(() => {
      opt.zeroGrad();
      // Shifted, scaled inputs: running means and variances far from 0 and 1.
      const x = randn([16, ...shape]).mul(3).add(1);
      lossOf(model.forward(x)).backward();
      opt.step();
    });
  }
  return model;
}

/** Eval-mode logits with every batch norm run as its own module (gradients on: no folding). */
function reference(model: Model, x: Tensor): Tensor {
  assert.equal(model.training, false);
  return model.forward(x).detach();
}

/** Eval-mode logits as evaluation computes them (gradients off: folded, inference mode). */
function folded(model: Model, x: Tensor): Tensor {
  return noGrad(() => model.forward(x));
}

/** max |a - b| / max |b|. */
function relErr(a: Tensor, b: Tensor): number {
  return scope(() => a.sub(b).abs().max().item() / b.abs().max().item());
}

Deno.test("folded eval logits equal batch norm in the loop (1e-5 relative)", () => {
  for (const arch of Object.keys(SHAPES) as Architecture[]) {
    using model = trained(arch, 1);
    model.eval();
    scope(() => {
      const x = randn([6, ...SHAPES[arch]]).mul(3).add(1);
      const ref = reference(model, x);
      const fast = folded(model, x);
      assert.deepEqual(fast.shape, [6, 7]);
      const err = relErr(fast, ref);
      assert.ok(err < 1e-5, `${arch}: folded vs unfolded relative error ${err}`);
      // The batch norms matter here: the train-mode logits differ.
      model.train();
      const train = noGrad(() => model.forward(x));
      model.eval();
      assert.ok(relErr(train, ref) > 1e-3, `${arch}: eval mode should differ from train mode`);
      // That train-mode pass moved the running statistics: folded afresh.
      const ref2 = reference(model, x);
      assert.ok(relErr(ref2, ref) > 1e-6, `${arch}: the running statistics moved`);
      assert.ok(relErr(folded(model, x), ref2) < 1e-5, `${arch}: after train/eval`);
    });
  }
});

Deno.test("folded weights follow the weights: a step in eval mode, train steps, loading", async () => {
  // The projection variant: its initialisation keeps three large steps finite
  // (option A's official fan-in init gives logits in the hundreds untrained).
  using model = trained("resnet32-proj", 2);
  using opt = new SGD(model, { lr: 0.5, momentum: 0 });
  const x = randn([4, 3, 32, 32]);
  model.eval();
  const before = folded(model, x);
  // An optimiser step while in eval mode (no train() call): every convolution
  // and batch-norm parameter changes in place, and the next pass must see it.
  scope(() => {
    opt.zeroGrad();
    lossOf(model.forward(x)).backward();
    opt.step();
  });
  scope(() => {
    const after = folded(model, x);
    assert.ok(relErr(after, before) > 1e-4, "the step changed the logits");
    assert.ok(relErr(after, reference(model, x)) < 1e-5, "folded after an eval-mode step");
  });
  // Train-mode steps update the running statistics too.
  model.train();
  scope(() => {
    opt.zeroGrad();
    lossOf(model.forward(randn([8, 3, 32, 32]).mul(2))).backward();
    opt.step();
  });
  model.eval();
  scope(() => assert.ok(relErr(folded(model, x), reference(model, x)) < 1e-5, "after training"));
  // Loading another model's weights over folded ones.
  const dir = await Deno.makeTempDir();
  using other = trained("resnet32-proj", 3);
  other.eval();
  other.save(`${dir}/other.pt`);
  model.load(`${dir}/other.pt`);
  scope(() => {
    const want = reference(other, x);
    assert.ok(relErr(folded(model, x), want) < 1e-5, "folded after load");
    assert.ok(relErr(folded(other, x), want) < 1e-5);
  });
  for (const t of [x, before]) t.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("inference-path logits carry later autograd (temperature fitting) and leak nothing", () => {
  using model = trained("cnn28", 4);
  model.eval();
  const live = liveTensors();
  scope(() => {
    const logits = folded(model, randn([5, 1, 28, 28]));
    const { features } = noGrad(() => model.forwardFeatures(randn([5, 1, 28, 28])));
    assert.deepEqual(features.shape, [5, 256]);
    const t = tensor(new Float32Array([1.5]), [1]);
    t.requiresGrad = true;
    const y = tensor(new BigInt64Array([0n, 1n, 2n, 3n, 4n]), [5]);
    const nll = logits.div(t).logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
    nll.backward();
    assert.ok(Number.isFinite(t.grad!.item()), "temperature gradient");
    // Eval mode with gradients on still reaches the parameters.
    using opt = new SGD(model, { lr: 0.1 });
    opt.zeroGrad();
    model.forward(randn([2, 1, 28, 28])).sum().backward();
  });
  assert.equal(liveTensors(), live, "no handle leaks");
});

Deno.test("multi-expert (SADE) networks: folded eval logits equal batch norm in the loop", () => {
  const shapes: [Architecture, number[]][] = [["cnn28-sade", [1, 28, 28]], [
    "resnet32-sade",
    [3, 32, 32],
  ]];
  for (const [arch, shape] of shapes) {
    manualSeed(5);
    using model = Model.create({ arch, classes: 7, inChannels: shape[0] });
    using opt = new SGD(model, { lr: 0.05, momentum: 0.9 });
    for (let i = 0; i < 3; i++) {
      scope(() => {
        opt.zeroGrad();
        lossOf(model.forward(randn([16, ...shape]).mul(3).add(1))).backward();
        opt.step();
      });
    }
    model.eval();
    scope(() => {
      const x = randn([6, ...shape]).mul(3).add(1);
      const fast = folded(model, x);
      assert.deepEqual(fast.shape, [6, 21]);
      const err = relErr(fast, reference(model, x));
      assert.ok(err < 1e-5, `${arch}: folded vs unfolded relative error ${err}`);
    });
  }
});
