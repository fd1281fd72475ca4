/**
 * Weights files built to hurt (issue 21): tensor views that address far
 * more than their storage, integers of megabytes, tuples nested past the
 * call stack, safetensors headers that promise gigabytes, special files,
 * metadata out of range, NaN weights, and valid files of 300,000 tensors.
 * Each hostile file is refused with one line (an InputError) after bounded
 * work; each valid one loads. The files are built here
 * (scripts/fuzz_structured.ts), not committed.
 */

import assert from "node:assert/strict";
import { Model } from "../../lib/models/mod.ts";
import {
  decodeMetadata,
  encodeMetadata,
  loadWeights,
  modelStateDict,
  readWeightsFile,
} from "../../lib/weights/model_weights.ts";
import { MAX_INTEGER_BYTES, PyTuple, unpickle } from "../../lib/weights/pickle.ts";
import { expansionLimit, parseTorchStateDict } from "../../lib/weights/pytorch.ts";
import { encodeSafetensors, type RawTensor } from "../../lib/weights/safetensors.ts";
import { weightsPredictor } from "../../lib/predict/inputs.ts";
import { weightsInspectCommand } from "../../lib/cli/weights.ts";
import { Pickle, safetensorsFile, torchCheckpoint } from "../../scripts/fuzz_structured.ts";
import { refuses as refusesAsync, refusesSync as refuses } from "../refusal.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function lade(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lade-hostile-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const floats = (t: RawTensor) => Array.from(new Float32Array(t.data.slice().buffer));

Deno.test("a view of 10^9 elements over 16 floats (stride 0) is refused before any copy", () => {
  const file = torchCheckpoint([{ name: "w", storage: 16, size: [1_000_000_000], stride: [0] }]);
  assert.ok(file.length < 1000, `${file.length} bytes`);
  refuses(
    () => parseTorchStateDict(file, "bomb.pth"),
    new RegExp(
      `^bomb\\.pth: not a readable PyTorch checkpoint: its tensors would expand to more than ` +
        `${expansionLimit(file.length)} bytes .*shape \\[1000000000\\].* storage of 16 elements`,
    ),
  );
  // Past the storage's end, and a reach past 2^53 that must not round back into range.
  refuses(
    () =>
      parseTorchStateDict(
        torchCheckpoint([{ name: "w", storage: 16, size: [17], stride: [1] }]),
        "a",
      ),
    /reaches element 16 of a storage of 16 elements/,
  );
  refuses(
    () =>
      parseTorchStateDict(
        torchCheckpoint([{
          name: "w",
          storage: 4,
          size: [2, 2 ** 20],
          stride: [2 ** 40, 2 ** 20],
        }]),
        "b",
      ),
    /reaches element \d+ of a storage of 4 elements/,
  );
});

Deno.test("strided views within the budget are copied right: by runs and element by element", () => {
  // [2, 3, 4] viewing a storage of 48 with strides (24, 8, 1): rows of 4 contiguous floats.
  const sd = parseTorchStateDict(
    torchCheckpoint([
      { name: "rows", storage: 48, offset: 2, size: [2, 3, 4], stride: [24, 8, 1] },
      { name: "t", storage: 6, size: [3, 2], stride: [1, 3] },
      { name: "bcast", storage: 3, size: [2, 3], stride: [0, 1] },
    ]),
    "ok.pth",
  );
  const expected: number[] = [];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) expected.push(2 + 24 * i + 8 * j + k);
  }
  assert.deepEqual(floats(sd.get("rows")!), expected);
  assert.deepEqual(floats(sd.get("t")!), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(floats(sd.get("bcast")!), [0, 1, 2, 0, 1, 2]);
});

Deno.test("pickle integers: bounded in length, built in linear time, exact", () => {
  const read = (p: Pickle) => unpickle(p.stop().bytes(), { source: "int.pkl" });
  refuses(
    () => read(new Pickle().proto(2).long4(2_000_000)),
    /^int\.pkl: unreadable pickle: an integer of 2000000 bytes \(at most 4096\)$/,
  );
  // All ones in two's complement: -1, whatever the length.
  assert.equal(read(new Pickle().proto(2).long4(MAX_INTEGER_BYTES, 0xff)), -1);
  // 0x7f7f...7f of 4096 bytes, against BigInt's own parse of the same digits.
  assert.equal(
    read(new Pickle().proto(2).long4(MAX_INTEGER_BYTES, 0x7f)),
    BigInt(`0x${"7f".repeat(MAX_INTEGER_BYTES)}`),
  );
  assert.equal(read(new Pickle().proto(2).long1([1, 2, 3, 4, 5, 6, 7, 8])), 0x0807060504030201n);
  assert.equal(read(new Pickle().proto(2).long1([0, 0, 0, 0, 0, 0, 0, 0x80])), -(2n ** 63n));
  assert.equal(read(new Pickle().proto(2).long1([0x39, 0x30])), 12345);
  // Protocol 0's decimal INT: its digits bounded as well.
  const digits = new Pickle().proto(2).raw(
    0x49,
    ...new TextEncoder().encode("9".repeat(20000)),
    10,
  );
  refuses(() => read(digits), /an integer of 20000 digits/);
});

Deno.test("deep and wide pickles: no stack overflow; a tuple key nested too deep is one line", () => {
  const deep = new Pickle().proto(2);
  for (let i = 0; i < 20000; i++) deep.mark();
  deep.int(1);
  for (let i = 0; i < 20000; i++) deep.tuple();
  let v = unpickle(deep.stop().bytes(), { source: "deep.pkl" });
  for (let i = 0; i < 20000; i++) {
    assert.ok(v instanceof PyTuple);
    v = v[0];
  }
  assert.equal(v, 1);
  const keyed = new Pickle().proto(2).dict();
  for (let i = 0; i < 20000; i++) keyed.mark();
  keyed.int(1);
  for (let i = 0; i < 20000; i++) keyed.tuple();
  keyed.int(3).setItem();
  refuses(
    () => unpickle(keyed.stop().bytes(), { source: "key.pkl" }),
    /^key\.pkl: unreadable pickle: a dict key of tuples nested more than 100 deep$/,
  );
  // 300,000 items after one mark: APPENDS, TUPLE.
  const wide = new Pickle().proto(2).list().mark();
  for (let i = 0; i < 300_000; i++) wide.none();
  wide.appends();
  assert.equal((unpickle(wide.stop().bytes(), { source: "w" }) as unknown[]).length, 300_000);
  const tuple = new Pickle().proto(2).mark();
  for (let i = 0; i < 300_000; i++) tuple.none();
  assert.equal(
    (unpickle(tuple.tuple().stop().bytes(), { source: "t" }) as unknown[]).length,
    300_000,
  );
});

Deno.test("a .pth of 70,000 tensors (ZIP64, SETITEMS batches) loads in full", () => {
  const views = Array.from({ length: 70_000 }, (_, i) => ({
    name: `layer${i}.weight`,
    storage: 2,
    size: [2],
    stride: [1],
  }));
  const sd = parseTorchStateDict(torchCheckpoint(views), "many.pth");
  assert.equal(sd.size, 70_000);
  assert.deepEqual(floats(sd.get("layer69999.weight")!), [0, 1]);
});

Deno.test("a safetensors file of 300,000 tensors is inspected in full", async () => {
  await withDir(async (dir) => {
    // The header written as text: 300,000 entries of one byte each.
    const entries = Array.from(
      { length: 300_000 },
      (_, i) => `"t${i}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`,
    );
    const data = Uint8Array.from({ length: 300_000 }, (_, i) => i & 0xff);
    const header = new TextEncoder().encode(`{${entries.join(",")}}`);
    const bytes = new Uint8Array(8 + header.length + data.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    bytes.set(data, 8 + header.length);
    await Deno.writeFile(`${dir}/many.safetensors`, bytes);
    // `weights inspect`, in this process (its printing captured): it reads the
    // file as readWeightsFile does, and its table once overflowed a spread.
    const printed: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => printed.push(args.join(" "));
    try {
      await weightsInspectCommand(`${dir}/many.safetensors`, {});
    } finally {
      console.log = log;
    }
    const lines = printed.join("\n").split("\n");
    assert.match(lines[0], /many\.safetensors: safetensors, 300000 tensors, 300000 elements/);
    assert.equal(lines.length, 300_001);
    assert.equal(lines[300_000], "t299999  uint8     [1]");
  });
});

Deno.test("a 3 GiB sparse safetensors file with a 16-byte header is refused after reading the header", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/sparse.safetensors`;
    const head = safetensorsFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } });
    await Deno.writeFile(path, head);
    await Deno.truncate(path, 3 * 2 ** 30); // sparse: no blocks written
    // Count what the reader reads.
    const proto = Deno.FsFile.prototype;
    const original = proto.read;
    let read = 0;
    proto.read = async function (this: Deno.FsFile, p: Uint8Array) {
      const n = await original.call(this, p);
      read += n ?? 0;
      return n;
    };
    try {
      await refusesAsync(
        () => readWeightsFile(path),
        /sparse\.safetensors: not a valid safetensors file: \d+ bytes after the last tensor/,
      );
    } finally {
      proto.read = original;
    }
    assert.ok(read < 4096, `read ${read} bytes`);
  });
});

Deno.test("special files: /dev/zero and a FIFO are refused without reading or blocking", async () => {
  await refusesAsync(
    () => readWeightsFile("/dev/zero"),
    /^\/dev\/zero is a character device, not a file \(only regular files are read\)$/,
  );
  await withDir(async (dir) => {
    const fifo = `${dir}/weights.fifo`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mk.success);
    await refusesAsync(() => readWeightsFile(fifo), /weights\.fifo is a FIFO \(named pipe\)/);
    await refusesAsync(() => readWeightsFile(dir), /is a folder, not a file$/);
    // The command line: one line, no hang (a blocking open would time the test out).
    const r = await lade(["weights", "inspect", fifo]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr.trim(),
      /^lade: error: .*weights\.fifo is a FIFO \(named pipe\), not a file/,
    );
  });
});

/** A cnn28's weights as lade writes them, with metadata `patch` over the real one. */
function cnnFile(patch: Record<string, string>, poison?: string): Uint8Array {
  using model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
  const tensors = modelStateDict(model);
  if (poison) {
    const t = tensors.find(([n]) => n === poison)![1];
    const f = new Float32Array(t.data.slice().buffer);
    f[1] = NaN;
    t.data = new Uint8Array(f.buffer);
  }
  const meta = {
    ...encodeMetadata({
      arch: "cnn28",
      classes: 3,
      inChannels: 1,
      head: "linear",
      classNames: ["a", "b", "c"],
      trainCounts: [30, 10, 3],
      imageSize: 28,
      mean: [0.5],
      std: [0.25],
    }),
    ...patch,
  };
  return encodeSafetensors(tensors, meta);
}

Deno.test("metadata out of range and NaN weights are refused at load, naming the key or tensor", async () => {
  const bad = (patch: Record<string, string>, re: RegExp) =>
    refuses(
      () =>
        decodeMetadata({
          ...encodeMetadata({ arch: "cnn28", classes: 3, inChannels: 1, head: "linear" }),
          ...patch,
        }, "w.safetensors"),
      re,
    );
  bad(
    { image_size: "60000" },
    /^w\.safetensors: metadata 'image_size' is 60000, outside 8\.\.4,096$/,
  );
  bad({ std: "[-1]" }, /^w\.safetensors: metadata 'std' must be a list of positive numbers$/);
  bad({ std: "[0]" }, /metadata 'std' must be a list of positive numbers/);
  bad({ mean: "[0.5, 0.5]" }, /metadata 'mean' lists 2 values for 1 channel\(s\)/);
  bad({ class_names: '["a"]' }, /metadata 'class_names' lists 1 values for 3 classes/);
  bad({ train_counts: "[1, 0, 2]" }, /metadata 'train_counts' must be a list of positive integers/);
  bad({ classes: "1e12" }, /metadata 'classes' is 1000000000000, outside 1\.\.10,000,000/);
  bad({ scale: "NaN" }, /metadata 'scale' must be a positive number, got NaN/);
  // NaN inside JSON is not JSON at all.
  bad({ std: "[NaN]" }, /metadata 'std' is not JSON/);
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/big.safetensors`, cnnFile({ image_size: "60000" }));
    await refusesAsync(() => weightsPredictor(`${dir}/big.safetensors`), /'image_size' is 60000/);
    // The file's method, not a --method flag predict does not have.
    await Deno.writeFile(`${dir}/method.safetensors`, cnnFile({ method: "nonsense" }));
    await refusesAsync(
      () => weightsPredictor(`${dir}/method.safetensors`),
      /^\S+method\.safetensors: metadata 'method' names an unknown method 'nonsense'$/,
    );
    await Deno.writeFile(`${dir}/nan.safetensors`, cnnFile({}, "head.weight"));
    await refusesAsync(
      () => weightsPredictor(`${dir}/nan.safetensors`),
      /^.*nan\.safetensors: "head\.weight" holds NaN or infinite values/,
    );
  });
});

Deno.test("loading that matches nothing is refused even when not strict", () => {
  using model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
  const foreign = new Map<string, RawTensor>([
    ["encoder.layer.0.weight", { dtype: "float32", shape: [2], data: new Uint8Array(8) }],
  ]);
  refuses(
    () => loadWeights(model, foreign, { source: "bert.pth", strict: false, configHints: true }),
    /^bert\.pth: no tensor of the file fits cnn28 \(the file's first is "encoder\.layer\.0\.weight", the model's "backbone\..*"\); --init-strict false loads what matches, and nothing does$/,
  );
  // One match is enough: loaded, the rest reported.
  const [name, t] = modelStateDict(model)[0];
  const report = loadWeights(model, new Map([...foreign, [name, t]]), {
    source: "x",
    strict: false,
  });
  assert.deepEqual(report.loaded, [name]);
});
