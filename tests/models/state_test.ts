import assert from "node:assert/strict";
import { Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { full, randn, tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";

Deno.test("stateNames/stateTensors: state-dict order, in place", () => {
  manualSeed(0);
  using model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
  const names = model.stateNames();
  assert.equal(names[0], "backbone.conv1.weight");
  assert.deepEqual(names.slice(-2), ["head.weight", "head.bias"]);
  // A batch norm's entries: weight, bias, then its buffers.
  const bn = names.findIndex((n) => n.endsWith(".running_mean"));
  assert.ok(bn >= 2);
  assert.match(names[bn - 2], /\.weight$/);
  assert.match(names[bn + 1], /\.running_var$/);
  assert.match(names[bn + 2], /\.num_batches_tracked$/);
  const tensors = model.stateTensors();
  try {
    assert.equal(tensors.length, names.length);
    const head = tensors[tensors.length - 1];
    assert.deepEqual([...head.shape], [10]);
    // Writing into a handle sets the model's weight.
    using ones = full([10], 0.5);
    head.copy_(ones);
    scope(() => {
      model.eval();
      const features = model.forwardFeatures(randn([2, 1, 28, 28]));
      const w = tensors[tensors.length - 2];
      const expected = features.features.matmul(w.t()).add(0.5);
      assert.ok(expected.sub(features.logits).abs().max().item() < 1e-4);
    });
    assert.equal(tensors[bn + 2].dtype, "int64");
    assert.deepEqual([...tensors[bn + 2].shape], []);
  } finally {
    for (const t of tensors) t.dispose();
  }
});

Deno.test("ImageNet ResNets: -101 and -152 have torchvision's parameter counts", () => {
  manualSeed(0);
  // torchvision: resnet101 44,549,160 and resnet152 60,192,808 parameters at 1000 classes.
  for (const [arch, count] of [["resnet101", 44_549_160], ["resnet152", 60_192_808]] as const) {
    using m = Model.create({ arch, classes: 1000, inChannels: 3 });
    assert.equal(m.numParams, count, arch);
  }
});

function flatParts(model: Model): { backbone: number[]; head: number[] } {
  const names = model.stateNames();
  const tensors = model.stateTensors();
  try {
    const out = { backbone: [] as number[], head: [] as number[] };
    names.forEach((n, i) => {
      if (n.includes("running") || n.includes("num_batches")) return;
      const values = Array.from(tensors[i].toArray() as Float32Array);
      const into = n.startsWith("head.") ? out.head : out.backbone;
      for (const v of values) into.push(v);
    });
    return out;
  } finally {
    for (const t of tensors) t.dispose();
  }
}

function trainStep(model: Model, sgd: SGD): void {
  scope(() => {
    sgd.zeroGrad();
    const logits = model.forward(randn([4, 1, 28, 28]));
    logits.logSoftmax(1).mul(-1).mean().backward();
    sgd.step();
  });
}

Deno.test("SGD parameter groups: a zero backbone rate moves only the head, and back", () => {
  manualSeed(1);
  using model = Model.create({ arch: "cnn28", classes: 5, inChannels: 1 });
  using sgd = new SGD(model, { lr: 0.1, weightDecay: 1e-4 });
  sgd.setGroupLr("backbone", 0);
  const before = flatParts(model);
  trainStep(model, sgd);
  const after = flatParts(model);
  assert.deepEqual(after.backbone, before.backbone);
  assert.notDeepEqual(after.head, before.head);
  sgd.setGroupLr("backbone", 0.1);
  trainStep(model, sgd);
  assert.notDeepEqual(flatParts(model).backbone, after.backbone);
});

Deno.test("freeze backbone: no update, no decay, batch-norm statistics kept in train mode", () => {
  manualSeed(2);
  using model = Model.create({ arch: "cnn28", classes: 5, inChannels: 1 });
  using sgd = new SGD(model, { lr: 0.1, weightDecay: 0.1 });
  model.freeze("backbone");
  sgd.setFrozen("backbone");
  const stats = () => {
    const names = model.stateNames();
    const tensors = model.stateTensors();
    try {
      const i = names.findIndex((n) => n.endsWith("running_mean"));
      return Array.from(tensors[i].toArray() as Float32Array);
    } finally {
      for (const t of tensors) t.dispose();
    }
  };
  const before = flatParts(model);
  const bnBefore = stats();
  model.train();
  trainStep(model, sgd);
  const after = flatParts(model);
  assert.deepEqual(after.backbone, before.backbone);
  assert.deepEqual(stats(), bnBefore);
  assert.notDeepEqual(after.head, before.head);
  // Unfrozen, the statistics move again.
  model.freeze("backbone", false);
  sgd.setFrozen("backbone", false);
  model.train();
  trainStep(model, sgd);
  assert.notDeepEqual(stats(), bnBefore);
  assert.throws(() => sgd.setGroupLr("backbone", -1));
  using t = tensor(new Float32Array([1]), [1]);
  assert.equal(t.shape[0], 1);
});

Deno.test("multi-expert (SADE) networks: their heads freeze as one part; names head.0..2", () => {
  manualSeed(3);
  using model = Model.create({ arch: "cnn28-sade", classes: 4, inChannels: 1 });
  const names = model.stateNames();
  assert.ok(names.includes("head.0.weight") && names.includes("head.2.bias"));
  using sgd = new SGD(model, { lr: 0.1 });
  model.freeze("head");
  sgd.setFrozen("head");
  const before = flatParts(model);
  model.train();
  trainStep(model, sgd);
  const after = flatParts(model);
  assert.deepEqual(after.head, before.head);
  assert.notDeepEqual(after.backbone, before.backbone);
});
