import assert from "node:assert/strict";
import { DisposedError } from "../../lib/errors.ts";
import { BatchLoader } from "../../lib/data/batch_loader.ts";
import { Model } from "../../lib/models/model.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import {
  Generator,
  liveTensors,
  nativeArchitectures,
  NativeHandle,
  rand,
  Tensor,
  tensor,
} from "../../lib/torch/mod.ts";
import { cString, toCString, toCStringList } from "../../lib/torch/strings.ts";

Deno.test("every owner of a native handle shares the one base", () => {
  for (const cls of [Tensor, Generator, Model, SGD, BatchLoader]) {
    assert.ok(cls.prototype instanceof NativeHandle, cls.name);
  }
});

Deno.test("a generator is disposed once, then any use is a DisposedError", () => {
  const g = new Generator(7);
  const first = rand([3], { generator: g }).toList();
  assert.equal(g.disposed, false);
  g.dispose();
  g.dispose();
  assert.equal(g.disposed, true);
  assert.throws(
    () => g.getState(),
    (e: unknown) => e instanceof DisposedError && /generator used after dispose/.test(e.message),
  );
  assert.throws(() => rand([3], { generator: g }), DisposedError);
  using h = new Generator(7);
  assert.deepEqual(rand([3], { generator: h }).toList(), first);
});

Deno.test("using frees a tensor at the end of its block", () => {
  const before = liveTensors();
  let kept: Tensor;
  {
    using t = tensor([1, 2, 3]);
    kept = t;
    assert.equal(liveTensors(), before + 1);
  }
  assert.equal(kept.disposed, true);
  assert.equal(liveTensors(), before);
});

Deno.test("models and optimisers refuse use after dispose with DisposedError", () => {
  const model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
  const sgd = new SGD(model, { lr: 0.1 });
  sgd.dispose();
  assert.throws(
    () => sgd.step(),
    (e: unknown) => e instanceof DisposedError && /optimiser used after dispose/.test(e.message),
  );
  model.dispose();
  assert.throws(
    () => model.numParams,
    (e: unknown) => e instanceof DisposedError && /model used after dispose/.test(e.message),
  );
});

Deno.test("strings to and from the C side", () => {
  assert.deepEqual(toCString("ab"), new Uint8Array([97, 98, 0]));
  assert.deepEqual(toCString("é"), new Uint8Array([0xc3, 0xa9, 0]));
  assert.deepEqual(toCStringList(["a", "bc"]), new Uint8Array([97, 0, 98, 99, 0]));
  assert.deepEqual(toCStringList([]), new Uint8Array([]));
  const buf = toCString("round trip");
  assert.equal(cString(Deno.UnsafePointer.of(buf)), "round trip");
  assert.equal(cString(null), "");
});

Deno.test("the native factory lists its architectures", () => {
  const names = nativeArchitectures();
  assert.ok(names.includes("cnn28") && names.includes("resnet32"), names.join(","));
  assert.equal(new Set(names).size, names.length);
  // Each one builds (the smallest input size is enough to construct it).
  for (const arch of names) {
    const m = Model.create({
      arch: arch as Parameters<typeof Model.create>[0]["arch"],
      classes: 2,
      inChannels: 3,
    });
    assert.ok(m.numParams > 0, arch);
    m.dispose();
  }
});
