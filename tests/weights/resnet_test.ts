/**
 * ResNet-18 and ResNet-34: torchvision's networks, layer for layer. The
 * committed fixture (fixtures/make_resnet_logits.py) holds torchvision's
 * logits on weights and inputs a formula gives; here the same formula fills
 * lade's networks through torchvision's state-dict names, so the check runs
 * without Python. Where python3 has torch and torchvision, a second check
 * loads torchvision's own random weights from a torch.save file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Model } from "../../lib/models/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { noGrad } from "../../lib/torch/mod.ts";
import { loadWeights, modelStateDict, readWeightsFile } from "../../lib/weights/model_weights.ts";
import type { RawTensor } from "../../lib/weights/safetensors.ts";
import { findPython, runPythonCode } from "../python.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const ARCHS = ["resnet18", "resnet34"] as const;

/** murmur3's 32-bit finaliser, as make_resnet_logits.py computes it. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Element values of tensor `t` (its index in the state dict), as the Python script's value(). */
function formulaValues(t: number, name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const bound = Math.sqrt(6.0 / fanIn);
  for (let k = 0; k < n; k++) {
    // t * 2^20 + k stays below 2^32 for these networks (122 and 218 tensors, < 2^20 elements each).
    const u = fmix32(t * 1048576 + k) / 4294967296.0;
    if (name.endsWith("num_batches_tracked")) out[k] = 0;
    else if (name.endsWith("running_var") || (name.endsWith(".weight") && shape.length === 1)) {
      out[k] = 0.5 + u;
    } else if (name.endsWith("running_mean") || name.endsWith(".bias")) out[k] = (u - 0.5) * 0.2;
    else out[k] = (u - 0.5) * 2.0 * bound;
  }
  return out;
}

function raw(values: Float32Array | BigInt64Array, shape: number[]): RawTensor {
  const dtype = values instanceof BigInt64Array ? "int64" : "float32";
  return { dtype, shape, data: new Uint8Array(values.buffer) };
}

/** The model's state (torchvision's names, in order) filled by the formula. */
function formulaState(model: Model): Map<string, RawTensor> {
  const state = new Map<string, RawTensor>();
  modelStateDict(model).forEach(([name, t], i) => {
    const values = formulaValues(i, name, t.shape);
    state.set(
      name,
      t.dtype === "int64" ? raw(new BigInt64Array(values.length), t.shape) : raw(values, t.shape),
    );
  });
  return state;
}

/** Logits of a model in eval mode on a float32 batch. */
function logits(model: Model, input: Float32Array, shape: number[]): Float32Array {
  model.eval();
  return noGrad(() => {
    using x = tensor(input, shape);
    using y = model.forward(x);
    return y.toArray() as Float32Array;
  });
}

/** max |a - b| / max |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

Deno.test("resnet18 and resnet34 carry torchvision's state-dict names, shapes and order", () => {
  const expected = JSON.parse(Deno.readTextFileSync(`${FIXTURES}torchvision_names.json`));
  for (const arch of ARCHS) {
    using model = Model.create({ arch, classes: 7, inChannels: 3 });
    const got = modelStateDict(model).map(([name, t]) => [name, t.shape, t.dtype]);
    assert.deepEqual(got, expected[arch], arch);
  }
});

Deno.test("resnet18 and resnet34: torchvision's logits on the fixture's formula weights", () => {
  const fixture = JSON.parse(Deno.readTextFileSync(`${FIXTURES}resnet_logits.json`));
  const shape: number[] = fixture.input_shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const input = new Float32Array(n);
  for (let k = 0; k < n; k++) input[k] = (fmix32(4095 * 1048576 + k) / 4294967296.0 - 0.5) * 4.0;
  for (const arch of ARCHS) {
    using model = Model.create({ arch, classes: fixture.classes, inChannels: 3 });
    const report = loadWeights(model, formulaState(model), { source: "formula" });
    assert.equal(report.loaded.length, modelStateDict(model).length);
    const got = logits(model, input, shape);
    const err = relativeError(got, fixture[arch]);
    assert.ok(err < 1e-5, `${arch}: relative error ${err}`);
    // The check can fail: another network's logits are far off.
    if (arch === "resnet34") assert.ok(relativeError(got, fixture.resnet18) > 0.1);
  }
});

const python = await findPython(["torch", "torchvision"]);

Deno.test({
  name:
    "resnet18 and resnet34: torchvision's random weights from a .pth, the same logits (python3)",
  ignore: python === undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await runPythonCode(
        python!,
        [
          "import json, sys, torch, torchvision",
          "out = sys.argv[1]",
          "torch.manual_seed(0)",
          "x = torch.randn(2, 3, 64, 64)",
          "res = {'input': x.flatten().tolist()}",
          "for arch in ('resnet18', 'resnet34'):",
          "    net = getattr(torchvision.models, arch)(num_classes=10)",
          "    for m in net.modules():",
          "        if isinstance(m, torch.nn.BatchNorm2d):",
          "            m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)",
          "            m.weight.data.uniform_(0.5, 1.5); m.bias.data.uniform_(-0.1, 0.1)",
          "    net.eval()",
          "    torch.save(net.state_dict(), f'{out}/{arch}.pth')",
          "    with torch.no_grad():",
          "        res[arch] = net(x).flatten().tolist()",
          "json.dump(res, open(f'{out}/logits.json', 'w'))",
        ].join("\n"),
        [dir],
      );
      const ref = JSON.parse(await Deno.readTextFile(join(dir, "logits.json")));
      const input = Float32Array.from(ref.input);
      for (const arch of ARCHS) {
        const file = await readWeightsFile(join(dir, `${arch}.pth`));
        using model = Model.create({ arch, classes: 10, inChannels: 3 });
        loadWeights(model, file.tensors, { source: `${arch}.pth` });
        const err = relativeError(logits(model, input, [2, 3, 64, 64]), ref[arch]);
        assert.ok(err < 1e-5, `${arch}: relative error ${err}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("an unknown architecture lists the valid ones", async () => {
  const lade = async (...args: string[]) => {
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const train = await lade("train", "--arch", "resnet99");
  assert.equal(train.code, 2);
  assert.match(
    train.stderr,
    /^lade: error: --arch: unknown architecture \(use auto, cnn28, .*, resnet18, resnet34, .*\), got "resnet99"\n$/,
  );
  const predict = await lade("predict", "--weights", "none.pth", "--arch", "resnet99", "x.png");
  assert.equal(predict.code, 2);
  assert.match(
    predict.stderr,
    /^lade: error: --arch: unknown architecture 'resnet99' \(use cnn28, /,
  );
  assert.throws(
    () => Model.create({ arch: "resnet99" as "resnet18", classes: 3, inChannels: 3 }),
    /^InputError: arch: unknown architecture 'resnet99' \(use cnn28, .*resnet18, resnet34, resnet50/,
  );
});
