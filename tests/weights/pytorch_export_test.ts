/**
 * `weights export --format pytorch`: a torch.save state dict and a module
 * file that needs only torch. Without Python: the .pt is read back by lade's
 * own PyTorch reader (the same tensors, the same logits after loading), and
 * the ZIP members are checked (aligned data, CRC-32). With python3 and torch:
 * `torch.load(weights_only=True)` + the module file give lade's logits, and
 * the module exported from a trained run imports and loads (all in one
 * Python process).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { describeError } from "../../lib/cli/errors.ts";
import { weightsExportCommand } from "../../lib/cli/weights.ts";
import { InputError } from "../../lib/errors.ts";
import { type Architecture, Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { noGrad, tensor } from "../../lib/torch/mod.ts";
import { loadWeights, modelStateDict, readWeightsFile } from "../../lib/weights/model_weights.ts";
import { exportPytorch, pytorchExportFiles } from "../../lib/weights/pytorch_export.ts";
import { crc32 } from "../../lib/weights/torch_save.ts";
import { readZip } from "../../lib/weights/zip.ts";
import type { RawTensor } from "../../lib/weights/safetensors.ts";
import { findPython, runPythonCode } from "../python.ts";
import { train } from "../../lib/train/trainer.ts";
import { lade } from "../cli.ts";
import { fixtureConfig, writeFixture } from "../train/fixture.ts";

/** The networks exported, with their input shapes and heads. */
const CASES: { arch: Architecture; input: number[]; head?: "cosine" }[] = [
  { arch: "cnn28", input: [3, 1, 28, 28] },
  { arch: "cnn28", input: [2, 3, 28, 28], head: "cosine" },
  { arch: "resnet32", input: [2, 3, 32, 32] },
  { arch: "resnet32-2branch-proj", input: [2, 3, 32, 32] },
  { arch: "cnn28-sade", input: [2, 1, 28, 28] },
  { arch: "resnet32-sade", input: [2, 3, 32, 32] },
  { arch: "resnet10-sade", input: [2, 3, 64, 64] },
  { arch: "resnext50-sade", input: [1, 3, 64, 64] },
  { arch: "resnet18", input: [2, 3, 64, 64] },
];

/** A deterministic generator in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * A model whose batch norms have drawn affine parameters and running
 * statistics (so eval-mode batch norm matters), and whose cosine head's
 * scale is not the default.
 */
function randomModel(arch: Architecture, inChannels: number, head?: "cosine"): Model {
  manualSeed(3);
  const model = Model.create({ arch, classes: 5, inChannels, head, scale: 7.5 });
  const rand = lcg(11);
  const state = new Map<string, RawTensor>();
  for (const [name, t] of modelStateDict(model)) {
    const isBn = t.shape.length === 1 && t.dtype === "float32" && !/^(head|fc)/.test(name);
    if (isBn) {
      const v = new Float32Array(t.shape[0]);
      const positive = /(weight|running_var)$/.test(name);
      for (let i = 0; i < v.length; i++) v[i] = positive ? 0.5 + rand() : (rand() - 0.5) * 0.4;
      state.set(name, { dtype: "float32", shape: t.shape, data: new Uint8Array(v.buffer) });
    } else {
      state.set(name, t);
    }
  }
  loadWeights(model, state, { source: "drawn" });
  return model;
}

function inputOf(shape: number[], seed: number): Float32Array {
  const rand = lcg(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * 4 - 2);
}

function logitsOf(model: Model, input: Float32Array, shape: number[]): Float32Array {
  model.eval();
  return noGrad(() => {
    using x = tensor(input, shape);
    using y = model.forward(x);
    return y.toArray() as Float32Array;
  });
}

Deno.test("export paths: F.pt with a module beside it, or a folder of model.pt and model.py", () => {
  assert.deepEqual(pytorchExportFiles("out/net.pt"), {
    weights: "out/net.pt",
    module: "out/net.py",
  });
  assert.deepEqual(pytorchExportFiles("out/my-net.v2.pth"), {
    weights: "out/my-net.v2.pth",
    module: "out/my_net_v2.py",
  });
  assert.deepEqual(pytorchExportFiles("export"), {
    weights: "export/model.pt",
    module: "export/model.py",
  });
});

Deno.test("the .pt reads back through lade's PyTorch reader: the same tensors and logits", async () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const dir = await Deno.makeTempDir();
  try {
    for (const c of CASES.slice(0, 6)) {
      using model = randomModel(c.arch, c.input[1], c.head);
      const files = await exportPytorch(model, join(dir, `${c.arch}-${c.head ?? "l"}`), {
        arch: c.arch,
        classes: 5,
        inChannels: c.input[1],
        head: c.head ?? "linear",
        scale: 7.5,
      });
      const bytes = await Deno.readFile(files.weights);
      // ZIP members: the storages start at multiples of 64 and carry their CRC-32.
      const members = readZip(bytes, files.weights);
      const names = [...members.keys()];
      assert.equal(names[0], "model/data.pkl");
      assert.ok(names.includes("model/version") && names.includes("model/byteorder"));
      for (const [name, entry] of members) {
        if (name.includes("/data/")) assert.equal(entry.data.byteOffset % 64, 0, name);
      }
      // Each local header's CRC-32 is its data's.
      const view = new DataView(bytes.buffer);
      let at = 0;
      while (view.getUint32(at, true) === 0x04034b50) {
        const size = view.getUint32(at + 18, true);
        const nameLength = view.getUint16(at + 26, true);
        const extra = view.getUint16(at + 28, true);
        const data = bytes.subarray(
          at + 30 + nameLength + extra,
          at + 30 + nameLength + extra + size,
        );
        assert.equal(view.getUint32(at + 14, true), crc32(data));
        at += 30 + nameLength + extra + size;
      }
      const back = await readWeightsFile(files.weights);
      assert.equal(back.format, "pytorch");
      const original = modelStateDict(model);
      assert.deepEqual([...back.tensors.keys()], original.map(([n]) => n));
      for (const [name, t] of original) {
        const r = back.tensors.get(name)!;
        assert.deepEqual([r.dtype, r.shape], [t.dtype, t.shape], name);
        assert.deepEqual(r.data, t.data, name);
      }
      manualSeed(99);
      using fresh = Model.create({
        arch: c.arch,
        classes: 5,
        inChannels: c.input[1],
        head: c.head,
        scale: 7.5,
      });
      loadWeights(fresh, back.tensors, { source: files.weights });
      const x = inputOf(c.input, 5);
      assert.deepEqual(logitsOf(fresh, x, c.input), logitsOf(model, x, c.input), c.arch);
      const source = await Deno.readTextFile(files.module);
      assert.match(source, new RegExp(`^ARCH = "${c.arch}"$`, "m"));
      assert.doesNotMatch(
        source,
        /^(import|from) (?!torch\b|os\b)/m,
        "imports torch (and os) only",
      );
      assert.match(source, /^import torch$/m);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const python = await findPython(["torch"]);

/**
 * A trained run (1 epoch of the small fixture, trained in this process)
 * exported with `lade weights export RUN --format pytorch --out ROOT/x/y`;
 * shared by the python3 test (one Python process for all the PyTorch checks)
 * and the command-line test, which removes it.
 */
let runExport: Promise<{ root: string; stdout: string }> | undefined;
function exportedRun(): Promise<{ root: string; stdout: string }> {
  runExport ??= (async () => {
    const root = await writeFixture(12, 4);
    await train(fixtureConfig(root, { train: { epochs: 1 } }), { runDir: `${root}/run` });
    const e = await lade(
      ["weights", "export", `${root}/run`, "--format", "pytorch", "--out", `${root}/x/y`],
    );
    assert.equal(e.code, 0, e.stderr);
    return { root, stdout: e.stdout };
  })();
  return runExport;
}

Deno.test({
  name: "torch.load(weights_only=True) and the module file give lade's logits (python3 torch)",
  ignore: python === undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const { root } = await exportedRun();
    try {
      const expected: Record<string, Float32Array> = {};
      const jobs: {
        key: string;
        module: string;
        weights: string;
        input: string;
        shape: number[];
      }[] = [];
      for (const c of CASES) {
        const key = `${c.arch}-${c.head ?? "linear"}`;
        using model = randomModel(c.arch, c.input[1], c.head);
        const files = await exportPytorch(model, join(dir, key, "net.pt"), {
          arch: c.arch,
          classes: 5,
          inChannels: c.input[1],
          head: c.head ?? "linear",
          scale: 7.5,
        });
        const x = inputOf(c.input, 7);
        await Deno.writeFile(join(dir, key, "x.bin"), new Uint8Array(x.buffer));
        expected[key] = logitsOf(model, x, c.input);
        jobs.push({ key, ...files, input: join(dir, key, "x.bin"), shape: c.input });
      }
      await Deno.writeTextFile(join(dir, "jobs.json"), JSON.stringify(jobs));
      const out = await runPythonCode(
        python!,
        [
          "import importlib.util, json, sys, torch",
          "jobs = json.load(open(sys.argv[1]))",
          "res = {}",
          "for j in jobs:",
          "    spec = importlib.util.spec_from_file_location('m_' + str(len(res)), j['module'])",
          "    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)",
          "    sd = torch.load(j['weights'], weights_only=True)",
          "    net = m.load()",
          "    assert list(sd.keys()) == list(net.state_dict().keys()) or " +
          "set(sd.keys()) == set(net.state_dict().keys())",
          "    x = torch.frombuffer(bytearray(open(j['input'], 'rb').read()), " +
          "dtype=torch.float32).reshape(j['shape'])",
          "    with torch.no_grad():",
          "        res[j['key']] = net(x).flatten().tolist()",
          "# The module exported from a trained run, imported by its name as a user would.",
          "sys.path.insert(0, sys.argv[2])",
          "import model",
          "net = model.load()",
          "run = [model.ARCH, model.CLASSES, len(model.CLASS_NAMES), type(net).__name__]",
          "print(json.dumps({'res': res, 'run': run}))",
        ].join("\n"),
        [join(dir, "jobs.json"), `${root}/x/y`],
      );
      const parsed = JSON.parse(out) as { res: Record<string, number[]>; run: unknown[] };
      assert.deepEqual(parsed.run, ["cnn28", 10, 10, "LadeNet"]);
      const got = parsed.res;
      for (const [key, want] of Object.entries(expected)) {
        const g = got[key];
        assert.equal(g.length, want.length, key);
        let diff = 0, scale = 0;
        for (let i = 0; i < want.length; i++) {
          diff = Math.max(diff, Math.abs(g[i] - want[i]));
          scale = Math.max(scale, Math.abs(want[i]));
        }
        assert.ok(
          diff <= 1e-5 * Math.max(1, scale),
          `${key}: max |torch - lade| ${diff} (max ${scale})`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("weights export RUN --format pytorch from a trained run", async () => {
  const { root, stdout } = await exportedRun();
  try {
    assert.match(stdout, /wrote .*\/x\/y\/model\.pt and .*\/x\/y\/model\.py: cnn28, 10 classes/);
    const source = await Deno.readTextFile(`${root}/x/y/model.py`);
    assert.match(source, /^CLASS_NAMES = \["0", "1", "2", /m);
    assert.match(source, /^MEAN = \[0\.1307\]$/m);
    assert.match(source, /^METHOD = "lade"$/m);
    const back = await readWeightsFile(`${root}/x/y/model.pt`);
    assert.ok(back.tensors.has("head.weight"));
    // An unknown format: bad input (exit 2), lade's one line (in this process).
    await assert.rejects(
      () => weightsExportCommand(`${root}/run`, { format: "onnx", out: "z" }),
      (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.match(
          `lade: error: ${describeError(e)}\n`,
          /^lade: error: --format: must be safetensors or pytorch, got 'onnx'\n$/,
        );
        return true;
      },
    );
    // With python3 and torch, the exported module is imported and loaded by
    // the test above, in its one Python process.
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
