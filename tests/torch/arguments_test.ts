/**
 * Arguments the native library cannot take are the library's InputError,
 * naming the parameter, before they reach native code (before: manualSeed(-1)
 * was a BigInt wrap-around or a RangeError, a "complex128" dtype reached
 * parseDevice ("unknown device"), 3e9 threads "Invalid FFI i32 type", and
 * 5000 threads hung starting them).
 */

import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { Generator, tensor } from "../../lib/torch/create.ts";
import {
  getNumThreads,
  manualSeed,
  maxThreads,
  parseDevice,
  setNumThreads,
} from "../../lib/torch/device.ts";
import type { DType } from "../../lib/torch/dtype.ts";

function inputError(parameter: string, re: RegExp) {
  return (e: Error) => e instanceof InputError && e.parameter === parameter && re.test(e.message);
}

Deno.test("seeds: integers from 0 only", () => {
  assert.throws(() => manualSeed(-1), inputError("seed", /must be an integer from 0 to .*got -1/));
  assert.throws(() => manualSeed(1.5), inputError("seed", /got 1\.5/));
  assert.throws(() => manualSeed(2n ** 64n), inputError("seed", /2\^64 - 1/));
  assert.throws(() => new Generator(-3), inputError("seed", /got -3/));
  manualSeed(2n ** 64n - 1n);
  manualSeed(0);
});

Deno.test("dtypes: an unknown name is an InputError for dtype, not 'unknown device'", () => {
  assert.throws(
    () => tensor([1, 2], [2], "complex128" as DType),
    inputError("dtype", /unknown dtype 'complex128' \(use float32, /),
  );
  using t = tensor([1, 2]);
  assert.throws(
    () => t.to("complex128" as DType),
    inputError(
      "target",
      /unknown device or dtype 'complex128' \(devices: cpu, cuda, cuda:N; dtypes: float32/,
    ),
  );
  assert.throws(
    () => tensor([1, 2], [-2]),
    inputError("shape", /non-negative integers, got \[-2\]/),
  );
  assert.throws(() => tensor([1, 2], [0.5, 4]), inputError("shape", /got \[0\.5, 4\]/));
});

Deno.test("device indices beyond libtorch's int8 are refused, not wrapped", () => {
  assert.throws(
    () => parseDevice("cuda:99999999999"),
    (e: Error) => e instanceof InputError && /N from 0 to 127\)$/.test(e.message),
  );
  assert.throws(() => parseDevice("cuda:128"), InputError);
  assert.equal(parseDevice("cuda:127").name, "cuda:127");
});

Deno.test("threads: 1 to maxThreads(), or an InputError before any thread starts", () => {
  const before = getNumThreads();
  const max = maxThreads();
  assert.throws(
    () => setNumThreads(5000),
    inputError("threads", /5000 is more than this machine can use; the limit is \d+/),
  );
  assert.throws(() => setNumThreads(3e9), inputError("threads", /3000000000 is more than/));
  assert.throws(() => setNumThreads(0), inputError("threads", /positive integer, got 0/));
  assert.throws(() => setNumThreads(2.5), inputError("threads", /got 2\.5/));
  assert.equal(getNumThreads(), before);
  setNumThreads(Math.min(max, 2));
  assert.equal(getNumThreads(), Math.min(max, 2));
  setNumThreads(before);
});

Deno.test("Model.create checks the counts that size the network before allocating", async () => {
  const { Model } = await import("../../lib/models/model.ts");
  for (
    const [opts, parameter] of [
      [{ classes: 1e9, inChannels: 1 }, "classes"],
      [{ classes: 2.5, inChannels: 1 }, "classes"],
      [{ classes: 0, inChannels: 1 }, "classes"],
      [{ classes: 3, inChannels: 0 }, "inChannels"],
      [{ classes: 3, inChannels: 1, scale: NaN }, "scale"],
    ] as const
  ) {
    assert.throws(
      () => Model.create({ arch: "cnn28", ...opts }),
      (e: Error) => e instanceof InputError && e.parameter === parameter,
      JSON.stringify(opts),
    );
  }
  using ok = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
  assert.ok(ok.numParams > 0);
});
