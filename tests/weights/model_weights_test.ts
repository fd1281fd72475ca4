import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { randn } from "../../lib/torch/create.ts";
import { noGrad } from "../../lib/torch/mod.ts";
import {
  exportWeights,
  loadWeights,
  modelStateDict,
  readWeightsFile,
} from "../../lib/weights/model_weights.ts";
import { externalName } from "../../lib/weights/names.ts";
import type { RawTensor } from "../../lib/weights/safetensors.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

Deno.test("torchvision architectures: torchvision's state-dict names, shapes, dtypes and order", () => {
  // Written by torchvision 0.14 (make_fixtures.py) at 7 classes.
  const expected = JSON.parse(Deno.readTextFileSync(`${FIXTURES}torchvision_names.json`)) as Record<
    string,
    [string, number[], string][]
  >;
  for (const arch of ["resnet50", "resnext50", "resnet101", "resnet152"] as const) {
    using model = Model.create({ arch, classes: 7, inChannels: 3 });
    const names = model.stateNames();
    const tensors = model.stateTensors();
    try {
      const got = names.map((n, i) => [
        externalName(arch, n),
        [...tensors[i].shape],
        tensors[i].dtype,
      ]);
      assert.equal(got.length, expected[arch].length, arch);
      assert.deepEqual(got, expected[arch], arch);
    } finally {
      for (const t of tensors) t.dispose();
    }
  }
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function logitsOf(model: Model, seed: number): number[] {
  manualSeed(seed);
  model.eval();
  return noGrad(() => {
    using x = randn([3, 1, 28, 28]);
    using y = model.forward(x);
    return Array.from(y.toArray() as Float32Array);
  });
}

Deno.test("export then load (strict): the same logits; metadata kept", async () => {
  await withDir(async (dir) => {
    manualSeed(1);
    using a = Model.create({ arch: "cnn28", classes: 4, inChannels: 1 });
    // Train-mode batch norm statistics differ from a fresh model's.
    noGrad(() => {
      using x = randn([8, 1, 28, 28]);
      a.forward(x).dispose();
    });
    await exportWeights(a, `${dir}/w.safetensors`, {
      arch: "cnn28",
      classes: 4,
      inChannels: 1,
      head: "linear",
      classNames: ["a", "b", "c", "d"],
      trainCounts: [10, 5, 2, 1],
    });
    manualSeed(2);
    using b = Model.create({ arch: "cnn28", classes: 4, inChannels: 1 });
    assert.notDeepEqual(logitsOf(b, 9), logitsOf(a, 9));
    const file = await readWeightsFile(`${dir}/w.safetensors`);
    assert.equal(file.format, "safetensors");
    assert.deepEqual(file.metadata?.classNames, ["a", "b", "c", "d"]);
    assert.deepEqual(file.metadata?.trainCounts, [10, 5, 2, 1]);
    const report = loadWeights(b, file.tensors, { source: "w.safetensors" });
    assert.equal(report.loaded.length, b.stateNames().length);
    assert.deepEqual(logitsOf(b, 9), logitsOf(a, 9));
  });
});

Deno.test("strict loading: the first missing, unexpected or mismatched key, in one line", () => {
  manualSeed(3);
  using model = Model.create({ arch: "resnet10", classes: 5, inChannels: 3 });
  const sd = new Map<string, RawTensor>(modelStateDict(model));
  const attempt = (tensors: Map<string, RawTensor>, re: RegExp, opts = {}) =>
    assert.throws(() => loadWeights(model, tensors, { source: "f.pth", ...opts }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  const without = new Map(sd);
  without.delete("layer2.0.downsample.1.running_var");
  attempt(without, /^f\.pth: missing key "layer2\.0\.downsample\.1\.running_var" for resnet10/);
  const extra = new Map(sd);
  extra.set("layer5.weight", sd.get("fc.bias")!);
  attempt(extra, /unexpected key "layer5\.weight"/);
  // Another class count: the head's shapes differ.
  manualSeed(4);
  using other = Model.create({ arch: "resnet10", classes: 9, inChannels: 3 });
  const nine = new Map(modelStateDict(other));
  attempt(
    nine,
    /"fc\.weight" has shape \[9, 512\] \(float32\) in the file but \[5, 512\].*`model\.init_skip` head/,
    { configHints: true },
  );
  attempt(nine, /but \[5, 512\] in resnet10 \(and 1 more\) \(a different class count\?\)$/);
  // Nothing was copied by the failed attempts; skipping the head loads the rest.
  const report = loadWeights(model, nine, { source: "f.pth", skipHead: true });
  assert.deepEqual(report.skipped, ["fc.weight", "fc.bias"]);
  assert.equal(report.loaded.length, model.stateNames().length - 2);
  assert.deepEqual(report.unexpected, []);
  const back = new Map(modelStateDict(model));
  assert.deepEqual([...back.get("conv1.weight")!.data], [...nine.get("conv1.weight")!.data]);
  assert.notDeepEqual([...back.get("fc.bias")!.data], [...nine.get("fc.bias")!.data].slice(0, 20));
  // Not strict: what matches is loaded, the rest listed.
  const loose = loadWeights(model, extra, { source: "f.pth", strict: false });
  assert.deepEqual(loose.unexpected, ["layer5.weight"]);
  // An old checkpoint without num_batches_tracked still loads strictly.
  const old = new Map([...sd].filter(([k]) => !k.endsWith("num_batches_tracked")));
  assert.equal(loadWeights(model, old, { source: "f.pth" }).missing.length, 0);
});

Deno.test("readWeightsFile: a PyTorch checkpoint by its bytes; junk is one line", async () => {
  const pth = await readWeightsFile(`${FIXTURES}lade_layout.pth`);
  assert.equal(pth.format, "pytorch");
  assert.deepEqual([...pth.tensors.keys()], [
    "conv1.weight",
    "bn1.running_mean",
    "fc.weight",
    "fc.bias",
  ]);
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/junk.pth`, "hello, not weights");
    await assert.rejects(
      readWeightsFile(`${dir}/junk.pth`),
      /junk\.pth: not a valid safetensors file/,
    );
    await assert.rejects(readWeightsFile(`${dir}/none.pth`), /not found/);
  });
});

Deno.test("a torch.save checkpoint into a model: torchvision names, downsample, head; loose loading", async () => {
  // resnet10_part.pth (make_fixtures.py): {'epoch', 'state_dict': {'module.conv1.weight', ...}}
  // with the values (arange(n) % 997) / 1000 - 0.5.
  const pattern = (n: number, offset = 0) =>
    Array.from({ length: n }, (_, i) => (i % 997) / 1000 - 0.5 + offset);
  const file = await readWeightsFile(`${FIXTURES}resnet10_part.pth`);
  manualSeed(6);
  using model = Model.create({ arch: "resnet10", classes: 5, inChannels: 3 });
  assert.throws(
    () => loadWeights(model, file.tensors, { source: "part.pth" }),
    /part\.pth: missing key "bn1\.weight" \(and \d+ more\) for resnet10$/,
  );
  const report = loadWeights(model, file.tensors, { source: "part.pth", strict: false });
  assert.deepEqual(report.loaded.sort(), [
    "conv1.weight",
    "fc.bias",
    "fc.weight",
    "layer2.0.downsample.0.weight",
    "layer2.0.downsample.1.running_var",
  ]);
  assert.deepEqual(report.unexpected, []);
  const names = model.stateNames();
  const tensors = model.stateTensors();
  try {
    const get = (n: string) => Array.from(tensors[names.indexOf(n)].toArray() as Float32Array);
    // float32 arithmetic in torch, float64 here: equal to a rounding.
    const near = (got: number[], want: number[]) => {
      assert.equal(got.length, want.length);
      got.forEach((v, i) =>
        assert.ok(Math.abs(v - want[i]) < 1e-6, `element ${i}: ${v} vs ${want[i]}`)
      );
    };
    // Values in C order, whatever layout the model keeps its weights in (channels-last on the CPU).
    near(get("backbone.conv1.weight"), pattern(64 * 3 * 7 * 7));
    near(get("backbone.layer2.0.down_conv.weight"), pattern(128 * 64));
    near(get("backbone.layer2.0.down_bn.running_var"), pattern(128, 1));
    near(get("head.weight"), pattern(5 * 512));
    near(get("head.bias"), pattern(5));
  } finally {
    for (const t of tensors) t.dispose();
  }
});

Deno.test("a tensor of the other kind (integers for floats) is a mismatch named in one line", () => {
  manualSeed(7);
  using model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
  const sd = new Map<string, RawTensor>(modelStateDict(model));
  const bias = sd.get("head.bias")!;
  sd.set("head.bias", { dtype: "int32", shape: bias.shape, data: new Uint8Array(4 * 3) });
  assert.throws(
    () => loadWeights(model, sd, { source: "i.safetensors" }),
    /^InputError: i\.safetensors: "head\.bias" holds int32 in the file, not the floating-point values of cnn28$/,
  );
});
