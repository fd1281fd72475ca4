import assert from "node:assert/strict";
import {
  arange,
  cat,
  fromBytes,
  full,
  ones,
  scope,
  stack,
  type Tensor,
  tensor,
  where,
  zeros,
} from "../../lib/torch/mod.ts";
import { InputError } from "../../lib/errors.ts";

/** Asserts two number lists agree within `tol`. */
function close(actual: number[], expected: number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])),
      `element ${i}: ${actual[i]} != ${expected[i]}`,
    );
  }
}

const vals = (t: Tensor) => t.toList();

Deno.test("tensor() infers dtypes from typed arrays and round-trips data", () => {
  scope(() => {
    const cases = [
      [new Float32Array([1.5, -2]), "float32"],
      [new Float64Array([1e-300, 3]), "float64"],
      [new BigInt64Array([2n ** 40n, -1n]), "int64"],
      [new Int32Array([7, -8]), "int32"],
      [new Uint8Array([0, 255]), "uint8"],
    ] as const;
    for (const [data, dtype] of cases) {
      const t = tensor(data);
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [2]);
      assert.deepEqual(t.toArray(), data);
    }
    const b = tensor([true, false, true]);
    assert.equal(b.dtype, "bool");
    assert.deepEqual(vals(b), [1, 0, 1]);
    const f = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.equal(f.dtype, "float32");
    assert.deepEqual(f.shape, [2, 3]);
    assert.equal(tensor([1, 2], [2], "int64").dtype, "int64");
    assert.equal(f.device, "cpu");
  });
});

Deno.test("tensor() rejects data that does not fill the shape, in the caller's terms", () => {
  assert.throws(
    () => tensor([1, 2, 3], [2, 2]),
    (e: unknown) =>
      e instanceof InputError && e.parameter === "shape" &&
      /^shape: \[2, 2\] holds 4 elements, but there are 3 values$/.test(e.message),
  );
  assert.throws(
    () => fromBytes(new Uint8Array(8), [3], "float32"),
    /shape: \[3\] holds 3 elements, but there are 2 float32 values/,
  );
  assert.throws(
    () => fromBytes(new Uint8Array(7), [2], "float32"),
    /7 bytes are not a whole number/,
  );
  assert.throws(
    () => tensor("abc" as unknown as number[], [3]),
    /data: must be a typed array or an array of numbers, got string/,
  );
});

Deno.test("factories: zeros, ones, full, arange", () => {
  scope(() => {
    assert.deepEqual(vals(zeros([2, 2])), [0, 0, 0, 0]);
    assert.deepEqual(vals(ones([3], { dtype: "int32" })), [1, 1, 1]);
    assert.deepEqual(vals(full([2], 2.5, { dtype: "float64" })), [2.5, 2.5]);
    assert.deepEqual(vals(arange(5)), [0, 1, 2, 3, 4]);
    assert.deepEqual(vals(arange(1, 2, 0.25, { dtype: "float32" })), [1, 1.25, 1.5, 1.75]);
    assert.equal(arange(3).dtype, "int64");
  });
});

Deno.test("elementwise arithmetic broadcasts like numpy", () => {
  scope(() => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const row = tensor([10, 20, 30], [3]);
    const col = tensor([100, 200], [2, 1]);
    assert.deepEqual(vals(a.add(row)), [11, 22, 33, 14, 25, 36]);
    assert.deepEqual(vals(a.add(col)), [101, 102, 103, 204, 205, 206]);
    assert.deepEqual(vals(a.sub(1)), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(vals(a.mul(row)), [10, 40, 90, 40, 100, 180]);
    close(vals(a.div(col)), [0.01, 0.02, 0.03, 0.02, 0.025, 0.03]);
    assert.deepEqual(vals(a.pow(2)), [1, 4, 9, 16, 25, 36]);
    assert.deepEqual(vals(a.rsub(10)), [9, 8, 7, 6, 5, 4]);
    close(vals(a.rdiv(1)), [1, 0.5, 1 / 3, 0.25, 0.2, 1 / 6]);
    assert.deepEqual(vals(a.neg()), [-1, -2, -3, -4, -5, -6]);
    assert.deepEqual(vals(a.maximum(3.5)), [3.5, 3.5, 3.5, 4, 5, 6]);
    assert.deepEqual(vals(a.minimum(row.div(10))), [1, 2, 3, 1, 2, 3]);
    assert.deepEqual(vals(tensor([-7, 7], [2], "int64").remainder(3)), [2, 1]);
    assert.deepEqual(vals(tensor([-7, 7], [2], "int64").floorDivide(2)), [-4, 3]);
  });
});

Deno.test("unary functions match Math", () => {
  scope(() => {
    const xs = [0.5, 1, 2, 4];
    const x = tensor(xs, [4], "float64");
    close(vals(x.exp()), xs.map(Math.exp), 1e-12);
    close(vals(x.log()), xs.map(Math.log), 1e-12);
    close(vals(x.sqrt()), xs.map(Math.sqrt), 1e-12);
    close(vals(x.log1p()), xs.map(Math.log1p), 1e-12);
    close(vals(x.tanh()), xs.map(Math.tanh), 1e-12);
    close(vals(x.sigmoid()), xs.map((v) => 1 / (1 + Math.exp(-v))), 1e-12);
    close(vals(x.neg().abs()), xs, 0);
    assert.deepEqual(vals(tensor([-1.5, 0, 2]).relu()), [0, 0, 2]);
    assert.deepEqual(
      vals(tensor([-1.5, 0.2, 2.7]).clamp(-1, 2)),
      [-1, 0.2 as number, 2].map((v) => Math.fround(v)),
    );
    assert.deepEqual(vals(tensor([-1.5, 2.7]).clamp(0)), [0, Math.fround(2.7)]);
    assert.deepEqual(vals(tensor([-1.5, 2.7]).clamp(undefined, 0)), [-1.5, 0]);
  });
});

Deno.test("comparisons and where", () => {
  scope(() => {
    const a = tensor([1, 2, 3]);
    const b = tensor([3, 2, 1]);
    assert.deepEqual(vals(a.lt(b)), [1, 0, 0]);
    assert.deepEqual(vals(a.le(b)), [1, 1, 0]);
    assert.deepEqual(vals(a.gt(b)), [0, 0, 1]);
    assert.deepEqual(vals(a.ge(2)), [0, 1, 1]);
    assert.deepEqual(vals(a.eq(b)), [0, 1, 0]);
    assert.deepEqual(vals(a.ne(2)), [1, 0, 1]);
    assert.equal(a.lt(b).dtype, "bool");
    assert.deepEqual(vals(where(a.gt(b), a, b)), [3, 2, 3]);
    assert.deepEqual(vals(a.where(a.lt(3), zeros([1]))), [1, 2, 0]);
    assert.deepEqual(vals(a.lt(b).logicalAnd(a.lt(2))), [1, 0, 0]);
    assert.deepEqual(vals(a.lt(b).logicalNot()), [0, 1, 1]);
  });
});

Deno.test("reductions over all elements and over a dimension", () => {
  scope(() => {
    // [[1, 5, 3], [4, 2, 6]]
    const a = tensor([1, 5, 3, 4, 2, 6], [2, 3], "float64");
    assert.equal(a.sum().item(), 21);
    assert.equal(a.mean().item(), 3.5);
    assert.deepEqual(vals(a.sum(0)), [5, 7, 9]);
    assert.deepEqual(vals(a.sum(1)), [9, 12]);
    assert.deepEqual(a.sum(1, true).shape, [2, 1]);
    assert.deepEqual(vals(a.mean(1)), [3, 4]);
    assert.deepEqual(vals(a.max(1)), [5, 6]);
    assert.deepEqual(vals(a.min(0)), [1, 2, 3]);
    assert.deepEqual(vals(a.argmax(1)), [1, 2]);
    assert.deepEqual(vals(a.argmin(1)), [0, 1]);
    assert.equal(a.argmax().item(), 5);
    assert.deepEqual(vals(a.prod(1)), [15, 48]);
    // logsumexp by formula
    const lse = (xs: number[]) => Math.log(xs.reduce((s, v) => s + Math.exp(v), 0));
    close(vals(a.logsumexp(1)), [lse([1, 5, 3]), lse([4, 2, 6])], 1e-12);
    close([a.logsumexp().item()], [lse([1, 5, 3, 4, 2, 6])], 1e-12);
    // unbiased variance of [1, 4]: ((1-2.5)^2 + (4-2.5)^2) / 1 = 4.5
    close(vals(a.var(0)), [4.5, 4.5, 4.5], 1e-12);
    close(vals(a.std(0)), [Math.sqrt(4.5), Math.sqrt(4.5), Math.sqrt(4.5)], 1e-12);
    assert.deepEqual(vals(a.gt(1).all(1)), [0, 1]);
    assert.deepEqual(vals(a.gt(5).any(1)), [0, 1]);
    const [v, i] = a.topk(2, 1);
    assert.deepEqual(vals(v), [5, 3, 6, 4]);
    assert.deepEqual(vals(i), [1, 2, 2, 0]);
    const [sv] = a.topk(1, 1, false);
    assert.deepEqual(vals(sv), [1, 2]);
    assert.deepEqual(vals(tensor([3, 1, 3, 0], [4], "int64").bincount(5)), [1, 1, 0, 2, 0]);
    assert.deepEqual(vals(a.cumsum(1)), [1, 6, 9, 4, 6, 12]);
    assert.deepEqual(vals(a.argsort(1)), [0, 2, 1, 1, 0, 2]);
    assert.deepEqual(vals(a.argsort(1, true)), [1, 2, 0, 2, 0, 1]);
  });
});

Deno.test("softmax and logSoftmax by formula", () => {
  scope(() => {
    const row = [1, 2, 3];
    const z = row.reduce((s, v) => s + Math.exp(v), 0);
    const x = tensor([...row, ...row.map((v) => v + 100)], [2, 3], "float64");
    const expected = row.map((v) => Math.exp(v) / z);
    close(vals(x.softmax(1)), [...expected, ...expected], 1e-12);
    close(vals(x.logSoftmax(1)), [...expected, ...expected].map(Math.log), 1e-12);
    close(vals(x.softmax(0)), [0, 0, 0, 1, 1, 1].map((v) => (v ? 1 : Math.exp(-100))), 1e-12);
  });
});

Deno.test("indexing: gather, indexSelect, maskedSelect, maskedFill, oneHot, select, narrow, slice", () => {
  scope(() => {
    const a = tensor([10, 11, 12, 20, 21, 22], [2, 3]);
    const idx = tensor(new BigInt64Array([2n, 0n]), [2, 1]);
    assert.deepEqual(vals(a.gather(1, idx)), [12, 20]);
    assert.deepEqual(vals(a.indexSelect(0, tensor(new BigInt64Array([1n, 1n, 0n])))), [
      20,
      21,
      22,
      20,
      21,
      22,
      10,
      11,
      12,
    ]);
    assert.deepEqual(vals(a.maskedSelect(a.gt(15))), [20, 21, 22]);
    assert.deepEqual(vals(a.maskedFill(a.lt(12), -1)), [-1, -1, 12, 20, 21, 22]);
    assert.deepEqual(vals(tensor(new BigInt64Array([2n, 0n])).oneHot(3)), [0, 0, 1, 1, 0, 0]);
    assert.deepEqual(vals(a.select(1, 2)), [12, 22]);
    assert.deepEqual(vals(a.narrow(1, 1, 2)), [11, 12, 21, 22]);
    assert.deepEqual(vals(a.slice(1, 0, 3, 2)), [10, 12, 20, 22]);
    const s = zeros([3]).scatterAdd(0, tensor(new BigInt64Array([0n, 2n, 0n])), tensor([1, 2, 3]));
    assert.deepEqual(vals(s), [4, 0, 2]);
  });
});

Deno.test("shape ops: reshape, transpose, permute, flip, pad, cat, stack, squeeze, expand", () => {
  scope(() => {
    const a = arange(6).reshape(2, 3);
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(vals(a.transpose(0, 1)), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(vals(a.t().contiguous()), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(a.reshape(3, -1).shape, [3, 2]);
    const b = arange(24).reshape(2, 3, 4);
    const p = b.permute(2, 0, 1);
    assert.deepEqual(p.shape, [4, 2, 3]);
    // p[k, i, j] = b[i, j, k] = 12 i + 4 j + k: first row k = 0, i = 0
    assert.deepEqual(vals(p).slice(0, 3), [0, 4, 8]);
    assert.deepEqual(vals(a.flip(1)), [2, 1, 0, 5, 4, 3]);
    assert.deepEqual(vals(a.flip(0, 1)), [5, 4, 3, 2, 1, 0]);
    const padded = tensor([1, 2], [1, 2]).pad([1, 2], 9);
    assert.deepEqual(padded.shape, [1, 5]);
    assert.deepEqual(vals(padded), [9, 1, 2, 9, 9]);
    assert.deepEqual(vals(cat([a, a], 0)).length, 12);
    assert.deepEqual(cat([a, a], 1).shape, [2, 6]);
    assert.deepEqual(vals(cat([a, a], 1)).slice(0, 6), [0, 1, 2, 0, 1, 2]);
    assert.deepEqual(stack([a, a], 0).shape, [2, 2, 3]);
    assert.deepEqual(stack([a, a], 2).shape, [2, 3, 2]);
    assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(a.unsqueeze(0).squeeze(0).shape, [2, 3]);
    assert.deepEqual(tensor([1, 2], [2, 1]).expand(2, 3).shape, [2, 3]);
    assert.deepEqual(a.flatten().shape, [6]);
  });
});

Deno.test("matmul of matrices, vectors and batches", () => {
  scope(() => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([7, 8, 9, 10, 11, 12], [3, 2]);
    // [[1*7+2*9+3*11, 1*8+2*10+3*12], [4*7+5*9+6*11, 4*8+5*10+6*12]]
    assert.deepEqual(vals(a.matmul(b)), [58, 64, 139, 154]);
    assert.deepEqual(vals(a.matmul(tensor([1, 0, -1]))), [-2, -2]);
    const batch = stack([a, a.mul(2)]);
    assert.deepEqual(batch.matmul(b).shape, [2, 2, 2]);
    assert.deepEqual(vals(batch.matmul(b)).slice(4), [116, 128, 278, 308]);
  });
});

Deno.test("to() casts and reports dtype and device", () => {
  scope(() => {
    const a = tensor([1.7, -1.2]);
    assert.deepEqual(vals(a.to("int32")), [1, -1]);
    assert.equal(a.to("float64").dtype, "float64");
    assert.equal(a.to("cpu", "int64").dtype, "int64");
    assert.equal(a.to("cpu").device, "cpu");
    assert.throws(() => a.to("tpu:0" as "cpu"), /unknown device/);
  });
});
