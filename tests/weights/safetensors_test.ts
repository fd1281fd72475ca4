import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { fromBytes } from "../../lib/torch/mod.ts";
import {
  encodeSafetensors,
  parseSafetensors,
  type RawTensor,
  readSafetensors,
  writeSafetensors,
} from "../../lib/weights/safetensors.ts";

const bytesOf = (a: Float32Array | BigInt64Array | Uint8Array | Int32Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A small file: float32 matrix, int64 scalar, uint8 vector, an empty tensor. */
function sample(): [string, RawTensor][] {
  return [
    ["a.weight", {
      dtype: "float32",
      shape: [2, 3],
      data: bytesOf(new Float32Array([1, 2, 3, 4, 5, 6])),
    }],
    ["bn.num_batches_tracked", {
      dtype: "int64",
      shape: [],
      data: bytesOf(new BigInt64Array([7n])),
    }],
    ["mask", { dtype: "uint8", shape: [3], data: new Uint8Array([1, 0, 1]) }],
    ["empty", { dtype: "float32", shape: [0, 4], data: new Uint8Array(0) }],
    ["ints", { dtype: "int32", shape: [2], data: bytesOf(new Int32Array([-5, 9])) }],
  ];
}

/** Writes a header by hand (for the invalid cases). */
function handMade(header: unknown, data: Uint8Array, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors: write, read back, same names, order, dtypes, shapes, bytes, metadata", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/w.safetensors`;
    await writeSafetensors(path, sample(), { arch: "cnn28", classes: "10" });
    const bytes = await Deno.readFile(path);
    // The header is padded to 8 bytes, as the safetensors library writes it.
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const file = await readSafetensors(path);
    assert.deepEqual(file.metadata, { arch: "cnn28", classes: "10" });
    assert.deepEqual([...file.tensors.keys()], sample().map(([k]) => k));
    for (const [name, t] of sample()) {
      const got = file.tensors.get(name)!;
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assert.deepEqual([...got.data], [...t.data]);
    }
    using w = fromBytes(file.tensors.get("a.weight")!.data, [2, 3], "float32");
    assert.deepEqual([...w.toArray()], [1, 2, 3, 4, 5, 6]);
    using s = fromBytes(file.tensors.get("bn.num_batches_tracked")!.data, [], "int64");
    assert.equal(s.item(), 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: a file the Python library wrote (header text and layout) reads", () => {
  // safetensors.torch.save_file({"x": torch.tensor([1.5, -2.0])}) writes exactly this header.
  const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data = bytesOf(new Float32Array([1.5, -2]));
  const json = new TextEncoder().encode(header.padEnd(Math.ceil(header.length / 8) * 8, " "));
  const bytes = new Uint8Array(8 + json.length + 8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  const f = parseSafetensors(bytes, "x.safetensors");
  assert.deepEqual([...new Float32Array(f.tensors.get("x")!.data.slice().buffer)], [1.5, -2]);
});

Deno.test("safetensors: each invalid header is one InputError line naming the problem", () => {
  const eight = new Uint8Array(8);
  const t = (header: unknown, data = eight) => handMade(header, data);
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", new Uint8Array(5), /shorter than the 8-byte header length/],
    [
      "huge length",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
        return b;
      })(),
      /exceeds/,
    ],
    [
      "past end",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 100n, true);
        return b;
      })(),
      /runs past the end/,
    ],
    [
      "not json",
      handMade({}, eight).map((v, i) => (i === 9 ? 0x7b : i === 8 ? 0x7b : v)),
      /not JSON/,
    ],
    ["array", t([1, 2]), /does not start with|not a JSON object/],
    ["dtype", t({ x: { dtype: "F33", shape: [2], data_offsets: [0, 8] } }), /unknown dtype "F33"/],
    [
      "u16",
      t({ x: { dtype: "U16", shape: [4], data_offsets: [0, 8] } }),
      /U16, which lade cannot hold/,
    ],
    ["shape", t({ x: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }), /shape that is not/],
    ["size", t({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }), /needs 12 bytes but/],
    [
      "bounds",
      t({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }),
      /beyond the 8 data bytes/,
    ],
    ["backwards", t({ x: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }), /run backwards/],
    [
      "overlap",
      t({
        x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        y: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }),
      /overlaps/,
    ],
    ["gap", t({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), /4 unused bytes before/],
    [
      "tail",
      t({ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }),
      /4 bytes after the last/,
    ],
    [
      "metadata",
      t({ __metadata__: { a: 1 }, x: { dtype: "U8", shape: [8], data_offsets: [0, 8] } }),
      /not a string/,
    ],
    [
      "field",
      t({ x: { dtype: "U8", shape: [8], data_offsets: [0, 8], extra: 1 } }),
      /unknown field/,
    ],
    [
      "newline name",
      t({ "a\nb": { dtype: "F32", shape: [3], data_offsets: [0, 8] } }),
      /tensor "a\\nb": shape/,
    ],
    [
      "offsets",
      t({ x: { dtype: "U8", shape: [8], data_offsets: [0, 8.5] } }),
      /data_offsets that are not/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => parseSafetensors(bytes, "f.safetensors"), (e: unknown) => {
      assert.ok(e instanceof InputError, `${what}: ${e}`);
      assert.match(e.message, re, what);
      assert.ok(e.message.startsWith("f.safetensors: not a valid safetensors file: "), what);
      assert.ok(!e.message.includes("\n"), what);
      return true;
    });
  }
});

Deno.test("safetensors: the writer refuses a wrong byte count and repeated names", () => {
  assert.throws(
    () => encodeSafetensors([["x", { dtype: "float32", shape: [3], data: new Uint8Array(8) }]]),
    InputError,
  );
  const t: RawTensor = { dtype: "uint8", shape: [1], data: new Uint8Array(1) };
  assert.throws(() => encodeSafetensors([["x", t], ["x", t]]), /repeated/);
});

Deno.test("safetensors: a missing file or a directory is one line", async () => {
  await assert.rejects(readSafetensors("/nonexistent/w.safetensors"), /not found/);
  await assert.rejects(readSafetensors("/tmp"), InputError);
});

/** mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("safetensors fuzz: 1,000 mutated files each load correctly or fail with one InputError line", () => {
  const good = encodeSafetensors(sample(), { arch: "cnn28" });
  const headerLength = Number(new DataView(good.buffer).getBigUint64(0, true));
  const headerText = new TextDecoder().decode(good.subarray(8, 8 + headerLength));
  const random = rng(20261127);
  const int = (n: number) => Math.floor(random() * n);
  const tokens = [
    "0",
    "1",
    "-1",
    "8",
    "1e3",
    "99999999999999999999",
    "null",
    '"F16"',
    '"BF16"',
    '"X"',
    "[]",
    "{}",
    "[0,0]",
    '"',
  ];
  const mutate = (): Uint8Array => {
    const kind = int(7);
    if (kind === 0) { // flip bytes anywhere
      const b = good.slice();
      for (let k = 1 + int(4); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
      return b;
    }
    if (kind === 1) return good.slice(0, int(good.length)); // truncate
    if (kind === 2) { // a new header length
      const b = good.slice();
      const choices = [
        0n,
        1n,
        2n,
        BigInt(headerLength - 1),
        BigInt(headerLength + 1),
        BigInt(b.length),
        1n << 63n,
      ];
      new DataView(b.buffer).setBigUint64(0, choices[int(choices.length)], true);
      return b;
    }
    if (kind === 3 || kind === 4) { // replace a number or token inside the JSON
      const spans = [...headerText.matchAll(/-?\d+|"[A-Z0-9]+"|\[|\]/g)];
      const m = spans[int(spans.length)];
      const text = headerText.slice(0, m.index) + tokens[int(tokens.length)] +
        headerText.slice(m.index! + m[0].length);
      return rebuild(text);
    }
    if (kind === 5) { // extra or missing data bytes
      const extra = int(3) - 1;
      if (extra < 0) return good.slice(0, good.length - 1 - int(4));
      const b = new Uint8Array(good.length + 1 + int(8));
      b.set(good);
      return b;
    }
    // Swap two offsets' values
    const text = headerText.replace(
      /"data_offsets":\[(\d+),(\d+)\]/,
      (_, a, b) => `"data_offsets":[${b},${a}]`,
    );
    return rebuild(random() < 0.5 ? text : text.replace('"shape":[2,3]', '"shape":[3,2]'));
  };
  const rebuild = (text: string): Uint8Array => {
    const json = new TextEncoder().encode(text);
    const b = new Uint8Array(8 + json.length + good.length - 8 - headerLength);
    new DataView(b.buffer).setBigUint64(0, BigInt(json.length), true);
    b.set(json, 8);
    b.set(good.subarray(8 + headerLength), 8 + json.length);
    return b;
  };
  let loaded = 0, refused = 0;
  for (let i = 0; i < 1000; i++) {
    const bytes = mutate();
    let file;
    try {
      file = parseSafetensors(bytes, "fuzz.safetensors");
    } catch (e) {
      assert.ok(e instanceof InputError, `case ${i}: ${e}`);
      assert.ok(!e.message.includes("\n"), `case ${i}: ${e.message}`);
      assert.ok(e.message.startsWith("fuzz.safetensors: "), `case ${i}`);
      refused++;
      continue;
    }
    // Loading correctly: every tensor becomes a torch tensor whose bytes are
    // the file's.
    for (const [, t] of file.tensors) {
      using x = fromBytes(t.data, t.shape, t.dtype);
      assert.deepEqual([...x.shape], t.shape);
      const a = x.toArray();
      assert.deepEqual([...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)], [...t.data]);
    }
    loaded++;
  }
  assert.equal(loaded + refused, 1000);
  // Both outcomes occur (a mutation inside the data, or a bit flip in
  // whitespace, still loads).
  assert.ok(loaded > 5 && refused > 500, `loaded ${loaded}, refused ${refused}`);
});
