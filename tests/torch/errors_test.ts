import assert from "node:assert/strict";
import { LadeError } from "../../lib/errors.ts";
import { DisposedError, scope, tensor, TorchError } from "../../lib/torch/mod.ts";

Deno.test("a bad op raises TorchError with libtorch's message and the next op works", () => {
  scope(() => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([1, 2, 3, 4], [2, 2]);
    assert.throws(
      () => a.matmul(b),
      (e: unknown) => e instanceof TorchError && /matmul/.test(e.message) && /2x3/.test(e.message),
    );
    // the process goes on and the next op works
    assert.deepEqual(b.matmul(a).shape, [2, 3]);
  });
});

Deno.test("an index out of range raises TorchError carrying the index", () => {
  scope(() => {
    const a = tensor([1, 2, 3]);
    assert.throws(
      () => a.indexSelect(0, tensor(new BigInt64Array([5n]))),
      (e: unknown) => e instanceof TorchError && /out of range|index/i.test(e.message),
    );
    assert.throws(
      () => a.select(0, 3),
      (e: unknown) => e instanceof TorchError && /out of range/.test(e.message),
    );
    assert.throws(
      () => a.sum(4),
      (e: unknown) => e instanceof TorchError && /Dimension out of range/.test(e.message),
    );
    assert.equal(a.sum().item(), 6);
  });
});

Deno.test("using a disposed tensor is a DisposedError, and dispose is idempotent", () => {
  const a = tensor([1]);
  a.dispose();
  a.dispose();
  assert.equal(a.disposed, true);
  assert.throws(
    () => a.add(1),
    (e: unknown) =>
      e instanceof DisposedError && e instanceof LadeError &&
      /tensor used after dispose/.test(e.message),
  );
});

Deno.test("TorchError is the library's, with libtorch's text as nativeMessage", () => {
  scope(() => {
    const a = tensor([1, 2, 3]);
    assert.throws(
      () => a.sum(4),
      (e: unknown) =>
        e instanceof TorchError && e instanceof LadeError && e.message.startsWith("sum: ") &&
        typeof e.nativeMessage === "string" && /Dimension out of range/.test(e.nativeMessage) &&
        e.cause === e.nativeMessage,
    );
  });
});

Deno.test("a CUDA device where there is none is a clear TorchError", async () => {
  const { cudaAvailable, zeros } = await import("../../lib/torch/mod.ts");
  if (cudaAvailable()) return; // this check is about machines without a GPU
  assert.throws(
    () => zeros([2], { device: "cuda:0" }),
    (e: unknown) => e instanceof TorchError && /CUDA/.test(e.message),
  );
});
