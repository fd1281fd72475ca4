import assert from "node:assert/strict";
import { Model } from "../../lib/models/mod.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { full, noGrad, randn, tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";

// Parameter counts by hand: conv k*k*in*out (no bias), batch norm 2*ch, linear in*out+out.
const conv = (i: number, o: number, k = 3) => i * o * k * k;
const bn = (c: number) => 2 * c;
const linear = (i: number, o: number) => i * o + o;

/** A CIFAR basic block's parameters: option A shortcuts have none, projections a 1x1 conv + BN. */
function cifarBlock(i: number, o: number, projection = false): number {
  const shortcut = projection && i !== o ? conv(i, o, 1) + bn(o) : 0;
  return conv(i, o) + bn(o) + conv(o, o) + bn(o) + shortcut;
}

Deno.test("cnn28: logits shape and parameter count", () => {
  manualSeed(0);
  using model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
  const expected = conv(1, 32) + bn(32) + conv(32, 64) + bn(64) + conv(64, 128) + bn(128) +
    linear(128 * 9, 256) + linear(256, 10);
  assert.equal(model.numParams, expected);
  assert.equal(model.featureDim, 256);
  scope(() => {
    const out = model.forward(randn([4, 1, 28, 28]));
    assert.deepEqual(out.shape, [4, 10]);
  });
});

Deno.test("resnet32 and its two-branch variant: parameter counts and features", () => {
  manualSeed(0);
  const stages = (projection: boolean) => {
    let blocks = 0;
    let inC = 16;
    for (const w of [16, 32, 64]) {
      for (let b = 0; b < 5; b++) {
        blocks += cifarBlock(inC, w, projection);
        inC = w;
      }
    }
    return blocks;
  };
  // The official network (option A) has ResNet-32's well-known 464,154
  // parameters with a 10-class head (He et al.'s 0.46M).
  using cifar10 = Model.create({ arch: "resnet32", classes: 10, inChannels: 3 });
  assert.equal(cifar10.numParams, 464_154);
  using plain = Model.create({ arch: "resnet32", classes: 100, inChannels: 3 });
  assert.equal(plain.numParams, conv(3, 16) + bn(16) + stages(false) + linear(64, 100));
  assert.equal(plain.featureDim, 64);
  using proj = Model.create({ arch: "resnet32-proj", classes: 100, inChannels: 3 });
  assert.equal(proj.numParams, conv(3, 16) + bn(16) + stages(true) + linear(64, 100));
  assert.ok(proj.numParams > plain.numParams);
  // Two-branch: the fifth block of stage 3 appears twice; the head reads 128 features.
  using two = Model.create({ arch: "resnet32-2branch", classes: 100, inChannels: 3 });
  assert.equal(two.featureDim, 128);
  assert.equal(
    two.numParams,
    conv(3, 16) + bn(16) + stages(false) + cifarBlock(64, 64) + linear(128, 100),
  );
  using twoProj = Model.create({ arch: "resnet32-2branch-proj", classes: 100, inChannels: 3 });
  assert.equal(
    twoProj.numParams,
    conv(3, 16) + bn(16) + stages(true) + cifarBlock(64, 64, true) + linear(128, 100),
  );
  scope(() => {
    const { features, logits } = two.forwardFeatures(randn([2, 3, 32, 32]));
    assert.deepEqual(features.shape, [2, 128]);
    assert.deepEqual(logits.shape, [2, 100]);
  });
});

Deno.test("ImageNet networks: torchvision's parameter counts and a forward pass", () => {
  manualSeed(0);
  // torchvision: resnet50 25,557,032 and resnext50_32x4d 25,028,904 parameters (1000 classes).
  const known: [("resnet50" | "resnext50"), number][] = [
    ["resnet50", 25_557_032],
    ["resnext50", 25_028_904],
  ];
  for (const [arch, n] of known) {
    using m = Model.create({ arch, classes: 1000, inChannels: 3 });
    assert.equal(m.numParams, n, arch);
    m.eval();
    scope(() => noGrad(() => assert.deepEqual(m.forward(randn([1, 3, 64, 64])).shape, [1, 1000])));
  }
  // ResNet-10: one basic block per stage.
  using r10 = Model.create({ arch: "resnet10", classes: 5, inChannels: 3 });
  const stem = conv(3, 64, 7) + bn(64);
  let body = 0;
  let inC = 64;
  for (const w of [64, 128, 256, 512]) {
    body += cifarBlock(inC, w, true);
    inC = w;
  }
  assert.equal(r10.numParams, stem + body + linear(512, 5));
  scope(() => assert.deepEqual(r10.forward(randn([2, 3, 64, 64])).shape, [2, 5]));
});

Deno.test("SADE's expert networks: the official code's parameter counts; logits per expert", () => {
  manualSeed(0);
  // Counted with the official models (Vanint/SADE-AgnosticLT; three experts,
  // reduce_dimension): expert_resnet_cifar.ResNet_s with NormedLinear heads
  // (use_norm, the CIFAR configs) or nn.Linear, Expert_ResNet.ResNet and
  // Expert_ResNeXt.ResNext for 1000 classes.
  const known: [Parameters<typeof Model.create>[0], number][] = [
    [{ arch: "resnet32-sade", classes: 100, inChannels: 3, head: "cosine" }, 783_856],
    [{ arch: "resnet32-sade", classes: 10, inChannels: 3, head: "cosine" }, 770_896],
    [{ arch: "resnet32-sade", classes: 100, inChannels: 3 }, 784_156],
    [{ arch: "resnet10-sade", classes: 1000, inChannels: 3, head: "cosine" }, 9_401_792],
    [{ arch: "resnet50-sade", classes: 1000, inChannels: 3, head: "cosine" }, 43_677_248],
    [{ arch: "resnet50-sade", classes: 1000, inChannels: 3 }, 43_680_248],
    [{ arch: "resnext50-sade", classes: 1000, inChannels: 3, head: "cosine" }, 42_889_024],
  ];
  for (const [opts, n] of known) {
    using m = Model.create(opts);
    assert.equal(m.numParams, n, `${opts.arch} ${opts.head ?? "linear"}`);
    assert.equal(m.experts, 3);
  }
  // cnn28-sade: cnn28's stages 1-2 shared; per expert a 96-channel stage 3,
  // a 192-unit hidden layer and a head.
  using cnn = Model.create({ arch: "cnn28-sade", classes: 10, inChannels: 1 });
  const expert = conv(64, 96) + bn(96) + linear(96 * 9, 192) + linear(192, 10);
  assert.equal(cnn.numParams, conv(1, 32) + bn(32) + conv(32, 64) + bn(64) + 3 * expert);
  assert.equal(cnn.featureDim, 3 * 192);
  using single = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
  assert.equal(single.experts, 1);
  scope(() => {
    const { features, logits } = cnn.forwardFeatures(randn([4, 1, 28, 28]));
    assert.deepEqual(features.shape, [4, 576]);
    assert.deepEqual(logits.shape, [4, 30]);
  });
  scope(() => {
    using r32 = Model.create({ arch: "resnet32-sade", classes: 7, inChannels: 3 });
    assert.deepEqual(r32.forward(randn([2, 3, 32, 32])).shape, [2, 21]);
    using r10 = Model.create({ arch: "resnet10-sade", classes: 5, inChannels: 3 });
    r10.eval();
    noGrad(() => assert.deepEqual(r10.forward(randn([1, 3, 64, 64])).shape, [1, 15]));
  });
});

Deno.test("SADE experts: a loss on one expert's logits reaches the shared stages and that expert only", () => {
  manualSeed(0);
  using model = Model.create({ arch: "cnn28-sade", classes: 3, inChannels: 1 });
  using opt = new SGD(model, { lr: 0.1, momentum: 0 });
  using x = randn([8, 1, 28, 28]);
  using before = model.stateVector(false);
  scope(() => {
    opt.zeroGrad();
    // A loss on expert 2's logits (columns 3..5) only.
    model.forward(x).narrow(1, 3, 3).square().sum().backward();
    opt.step();
  });
  using after = model.stateVector(false);
  // Parameters in registration order: the shared stages, experts 1-3's
  // branches, then heads 1-3.
  const shared = conv(1, 32) + bn(32) + conv(32, 64) + bn(64);
  const branch = conv(64, 96) + bn(96) + linear(96 * 9, 192);
  const head = linear(192, 3);
  const ranges = [
    ["shared", 0, shared, true],
    ["branch 1", shared, shared + branch, false],
    ["branch 2", shared + branch, shared + 2 * branch, true],
    ["branch 3", shared + 2 * branch, shared + 3 * branch, false],
    ["head 1", shared + 3 * branch, shared + 3 * branch + head, false],
    ["head 2", shared + 3 * branch + head, shared + 3 * branch + 2 * head, true],
    ["head 3", shared + 3 * branch + 2 * head, shared + 3 * branch + 3 * head, false],
  ] as const;
  assert.equal(after.numel, shared + 3 * branch + 3 * head);
  const a = before.toArray() as Float32Array;
  const b = after.toArray() as Float32Array;
  for (const [name, from, to, moves] of ranges) {
    let changed = 0;
    for (let i = from; i < to; i++) if (a[i] !== b[i]) changed++;
    assert.equal(changed > 0, moves, `${name}: ${changed} of ${to - from} changed`);
  }
});

Deno.test("cosine head: logits bounded by the scale", () => {
  manualSeed(1);
  using m = Model.create({ arch: "cnn28", classes: 3, inChannels: 1, head: "cosine", scale: 5 });
  assert.equal(
    m.numParams,
    conv(1, 32) + bn(32) + conv(32, 64) + bn(64) + conv(64, 128) +
      bn(128) + linear(128 * 9, 256) + 256 * 3,
  );
  scope(() => {
    const logits = m.forward(randn([6, 1, 28, 28]));
    const max = logits.abs().max().item();
    assert.ok(max <= 5 + 1e-5 && max > 0, `max |logit| ${max}`);
  });
});

Deno.test("cosine heads of a multi-expert network: 30 cos(features, w_c), unit-length classes at the start", () => {
  manualSeed(3);
  const classes = 4;
  using m = Model.create({
    arch: "cnn28-sade",
    classes,
    inChannels: 1,
    head: "cosine",
    scale: 30,
  });
  m.eval();
  // The heads' weights [classes, d] per expert, by name, as host numbers.
  const names = m.stateNames();
  const tensors = m.stateTensors();
  const heads: Float32Array[] = [];
  try {
    for (let e = 0; e < 3; e++) {
      const i = names.indexOf(`head.${e}.weight`);
      assert.ok(i >= 0, `head.${e}.weight in ${names.slice(-4)}`);
      heads.push(tensors[i].toArray() as Float32Array);
    }
  } finally {
    for (const t of tensors) t.dispose();
  }
  const d = heads[0].length / classes;
  // As the official NormedLinear starts: every class vector of length 1.
  for (const w of heads) {
    for (let c = 0; c < classes; c++) {
      let sq = 0;
      for (let k = 0; k < d; k++) sq += w[c * d + k] ** 2;
      assert.ok(Math.abs(Math.sqrt(sq) - 1) < 1e-5, `|w_c| = ${Math.sqrt(sq)}`);
    }
  }
  const [features, logits] = scope(() => {
    const out = noGrad(() => m.forwardFeatures(randn([3, 1, 28, 28])));
    return [out.features.toArray() as Float32Array, out.logits.toArray() as Float32Array];
  });
  assert.equal(features.length, 3 * 3 * d);
  // By hand: expert e reads its own d features; logit = 30 <x/|x|, w_c/|w_c|>.
  for (let i = 0; i < 3; i++) {
    for (let e = 0; e < 3; e++) {
      const x = features.subarray(i * 3 * d + e * d, i * 3 * d + (e + 1) * d);
      const nx = Math.sqrt(x.reduce((a, v) => a + v * v, 0));
      for (let c = 0; c < classes; c++) {
        const w = heads[e].subarray(c * d, (c + 1) * d);
        const nw = Math.sqrt(w.reduce((a, v) => a + v * v, 0));
        const dot = x.reduce((a, v, k) => a + v * w[k], 0);
        const want = (30 * dot) / (nx * nw);
        const got = logits[i * 3 * classes + e * classes + c];
        assert.ok(
          Math.abs(got - want) < 1e-4,
          `sample ${i} expert ${e} class ${c}: ${got} vs ${want}`,
        );
      }
    }
  }
});

Deno.test("backward reaches the parameters; SGD step; save/load round trip", async () => {
  manualSeed(2);
  using model = Model.create({ arch: "cnn28", classes: 4, inChannels: 1 });
  using opt = new SGD(model, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const before = model.stateVector(false);
  const live = liveTensors();
  scope(() => {
    opt.zeroGrad();
    const x = randn([8, 1, 28, 28]);
    const y = tensor(new BigInt64Array([0n, 1n, 2n, 3n, 0n, 1n, 2n, 3n]), [8]);
    const loss = model.forward(x).logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
    loss.backward();
    opt.step();
  });
  assert.equal(liveTensors(), live, "no handle leaks from a step");
  const after = model.stateVector(false);
  const moved = scope(() => after.sub(before).abs().max().item());
  assert.ok(moved > 0, "a step changes the weights");

  const dir = await Deno.makeTempDir();
  model.save(`${dir}/m.pt`);
  opt.save(`${dir}/o.pt`);
  manualSeed(99);
  using other = Model.create({ arch: "cnn28", classes: 4, inChannels: 1 });
  other.load(`${dir}/m.pt`);
  const loaded = other.stateVector(true);
  const orig = model.stateVector(true);
  assert.equal(scope(() => loaded.sub(orig).abs().max().item()), 0);
  using opt2 = new SGD(other, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  opt2.load(`${dir}/o.pt`);
  // Same step on both: identical weights afterwards (momentum buffers restored).
  for (const [m, o] of [[model, opt], [other, opt2]] as const) {
    manualSeed(5);
    scope(() => {
      o.zeroGrad();
      const loss = m.forward(randn([8, 1, 28, 28])).square().mean();
      loss.backward();
      o.step();
    });
  }
  const a = model.stateVector(true);
  const b = other.stateVector(true);
  assert.equal(scope(() => a.sub(b).abs().max().item()), 0);
  assert.throws(() => other.load(`${dir}/missing.pt`), /loading the model/);
  for (const t of [before, after, loaded, orig, a, b]) t.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("unknown architecture is a usage error", () => {
  assert.throws(
    () => Model.create({ arch: "vgg" as "cnn28", classes: 2, inChannels: 1 }),
    /unknown architecture 'vgg'/,
  );
});

Deno.test("tensors(): the parameters and buffers themselves, in place (after SGD's flat buffers too)", () => {
  manualSeed(3);
  using model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
  using _sgd = new SGD(model, { lr: 0.1 });
  const params = model.tensors("parameters");
  const buffers = model.tensors("buffers");
  const all = model.tensors();
  try {
    assert.equal(params.reduce((n, t) => n + t.numel, 0), model.numParams);
    // Three batch norms: running mean, running variance and a step counter each.
    assert.equal(buffers.length, 9);
    assert.ok(buffers.some((b) => b.dtype === "int64"));
    assert.equal(all.length, params.length + buffers.length);
    // Writing through a handle changes the model.
    scope(() =>
      noGrad(() => {
        for (const t of params) t.copy_(full([], 0.25));
        for (const t of buffers) t.copy_(full([], 2, { dtype: t.dtype }));
      })
    );
    using state = model.stateVector(true);
    assert.ok(state.toList().every((v) => v === 0.25 || v === 2));
  } finally {
    for (const t of [...params, ...buffers, ...all]) t.dispose();
  }
});
