/**
 * PyTorch checkpoints: the committed fixtures were written by torch.save
 * (PyTorch 1.13; tests/weights/fixtures/make_fixtures.py), so these tests
 * read real files and need no Python.
 */
import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { fromBytes } from "../../lib/torch/mod.ts";
import { unpickle } from "../../lib/weights/pickle.ts";
import { findStateDict, parseTorchStateDict, readTorchPickle } from "../../lib/weights/pytorch.ts";
import type { RawTensor } from "../../lib/weights/safetensors.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const read = (name: string) => Deno.readFileSync(`${FIXTURES}${name}`);

function values(t: RawTensor): number[] {
  using x = fromBytes(t.data, t.shape, t.dtype);
  if (t.dtype === "float16" || t.dtype === "bfloat16") {
    using f = x.to("float32");
    return Array.from(f.toArray() as Float32Array);
  }
  return Array.from(x.toArray() as ArrayLike<number | bigint | boolean>, Number);
}

Deno.test("torch.save state dict: dtypes, scalars, strided views and shared storages", () => {
  const sd = parseTorchStateDict(read("tiny.pth"), "tiny.pth");
  assert.deepEqual([...sd.keys()], [
    "a.weight",
    "a.half",
    "a.bf16",
    "bn.num_batches_tracked",
    "t.transposed",
    "s.first",
    "s.second",
    "m.mask",
    "e.empty",
    "i.int32",
  ]);
  const get = (k: string) => sd.get(k)!;
  assert.equal(get("a.weight").dtype, "float32");
  assert.deepEqual(get("a.weight").shape, [2, 3]);
  assert.deepEqual(values(get("a.weight")), [0, 1, 2, 3, 4, 5]);
  assert.equal(get("a.half").dtype, "float16");
  assert.deepEqual(values(get("a.half")), [0.5, -1.25, 3]);
  assert.equal(get("a.bf16").dtype, "bfloat16");
  assert.deepEqual(values(get("a.bf16")), [1.5, -2]);
  assert.deepEqual(get("bn.num_batches_tracked").shape, []);
  assert.deepEqual(values(get("bn.num_batches_tracked")), [7]);
  // arange(6).reshape(2, 3).t(): [[0, 3], [1, 4], [2, 5]] in C order.
  assert.deepEqual(get("t.transposed").shape, [3, 2]);
  assert.equal(get("t.transposed").dtype, "float64");
  assert.deepEqual(values(get("t.transposed")), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(values(get("s.first")), [0, 1, 2, 3]);
  assert.deepEqual(values(get("s.second")), [4, 5, 6, 7, 8, 9]);
  assert.equal(get("m.mask").dtype, "bool");
  assert.deepEqual(values(get("m.mask")), [1, 0, 1]);
  assert.deepEqual(get("e.empty").shape, [0, 3]);
  assert.deepEqual(values(get("i.int32")), [-1, 2, 3, -4]);
});

Deno.test("nested checkpoints: 'model' under a training script's dict, module. prefixes removed", () => {
  const sd = parseTorchStateDict(read("nested.pth"), "nested.pth");
  assert.deepEqual([...sd.keys()], ["conv.weight", "fc.bias"]);
});

Deno.test("the official LADE layout: feat_model and classifier flattened to one state dict", () => {
  const sd = parseTorchStateDict(read("lade_layout.pth"), "lade.pth");
  assert.deepEqual([...sd.keys()], ["conv1.weight", "bn1.running_mean", "fc.weight", "fc.bias"]);
  assert.deepEqual(values(sd.get("fc.bias")!), [1, 2, 3]);
});

Deno.test("a pickled module is refused without running code, in one line", () => {
  assert.throws(() => parseTorchStateDict(read("whole_module.pth"), "m.pth"), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.match(
      e.message,
      /m\.pth: holds a torch\.nn\.modules\.linear\.Linear object, not a state dict/,
    );
    return true;
  });
});

Deno.test("damaged checkpoints: every truncation and many byte flips fail in one line or load", () => {
  const good = read("tiny.pth");
  let refused = 0;
  const check = (bytes: Uint8Array, what: string) => {
    try {
      parseTorchStateDict(bytes, "x.pth");
    } catch (e) {
      assert.ok(e instanceof InputError, `${what}: ${e}`);
      assert.ok(!e.message.includes("\n"), what);
      refused++;
    }
  };
  for (let n = 0; n < good.length; n += 7) check(good.slice(0, n), `truncated to ${n}`);
  let seed = 7;
  for (let i = 0; i < 400; i++) {
    const b = good.slice();
    seed = (seed * 1103515245 + 12345) >>> 0;
    b[seed % b.length] ^= 1 << (seed >>> 29);
    check(b, `flip ${i}`);
  }
  assert.ok(refused > 100);
  assert.throws(() => readTorchPickle(new Uint8Array([0x80, 2, 0x8a, 0x0a]), "old.pth"), /legacy/);
});

Deno.test("the unpickler: malformed streams are InputErrors, and unknown globals never run", () => {
  const bad = [
    [0x80, 2, 0x29], // no STOP
    [0x80, 2, 0x2e], // STOP on an empty stack
    [0x80, 2, 0x61, 0x2e], // APPEND with nothing
    [0x80, 2, 0x68, 5, 0x2e], // memo miss
    [0x80, 2, 0xff], // unknown opcode
  ];
  for (const b of bad) {
    assert.throws(() => unpickle(new Uint8Array(b), { source: "p" }), InputError);
  }
  // os.system("x") as a pickle: GLOBAL 'os system', ('x',), REDUCE, STOP.
  const evil = new Uint8Array([
    0x63,
    ...new TextEncoder().encode("os\nsystem\n"),
    0x58,
    1,
    0,
    0,
    0,
    0x78,
    0x85,
    0x52,
    0x2e,
  ]);
  const v = unpickle(evil, { source: "p" }) as { callable: { qualified: string }; args: unknown[] };
  assert.equal(v.callable.qualified, "os.system");
  assert.deepEqual([...v.args], ["x"]);
});

Deno.test("a dict that contains itself ends in one line, not a hang or a stack overflow", () => {
  // {} memoised as 0, then d['model'] = d; d['x'] = d: PROTO 2, EMPTY_DICT, BINPUT 0,
  // 'model' BINGET 0 SETITEM, 'x' BINGET 0 SETITEM, STOP.
  const text = (s: string) => [0x58, s.length, 0, 0, 0, ...new TextEncoder().encode(s)];
  const pickle = new Uint8Array([
    0x80,
    2,
    0x7d,
    0x71,
    0,
    ...text("model"),
    0x68,
    0,
    0x73,
    ...text("x"),
    0x68,
    0,
    0x73,
    0x2e,
  ]);
  const root = unpickle(pickle, { source: "loop.pth" });
  assert.throws(
    () => findStateDict(root, "loop.pth"),
    /^InputError: loop\.pth: dicts nested more than 64 deep/,
  );
});
