import assert from "node:assert/strict";
import { keep, liveTensors, scope, type Tensor, tensor } from "../../lib/torch/mod.ts";

Deno.test("scope frees everything made inside but what it returns", () => {
  const start = liveTensors();
  const a = tensor([1, 2, 3]);
  const out = scope(() => {
    const b = a.mul(2);
    const c = b.add(1);
    scope(() => c.exp()); // inner result moves to this scope
    return { c, list: [b.sum()] };
  });
  assert.equal(liveTensors(), start + 3); // a, c, the sum
  assert.deepEqual(out.c.toList(), [3, 5, 7]);
  assert.equal(out.list[0].item(), 12);
  out.c.dispose();
  out.list[0].dispose();
  a.dispose();
  assert.equal(liveTensors(), start);
});

Deno.test("keep() moves a tensor out of its scope; using frees at block end", () => {
  const start = liveTensors();
  let kept: Tensor | undefined;
  scope(() => {
    kept = keep(tensor([1]).add(1));
  });
  assert.equal(kept!.item(), 2);
  kept!.dispose();
  {
    using t = tensor([5]);
    assert.equal(t.item(), 5);
  }
  assert.equal(liveTensors(), start);
});

Deno.test("scope frees its tensors when the function throws", () => {
  const start = liveTensors();
  assert.throws(() =>
    scope(() => {
      tensor([1, 2]).mul(3);
      throw new Error("boom");
    })
  );
  assert.equal(liveTensors(), start);
});

Deno.test("100,000 small ops in scopes return the live-handle count to its start; RSS stays flat", () => {
  const a = tensor(new Float32Array(16).fill(1));
  const b = tensor(new Float32Array(16).fill(2));
  // Warm up allocators before measuring RSS.
  for (let i = 0; i < 2_000; i++) scope(() => void a.add(b).mul(2));
  const start = liveTensors();
  const rss0 = Deno.memoryUsage().rss;
  for (let i = 0; i < 100_000; i++) {
    scope(() => {
      a.add(b).mul(b).sum();
    });
  }
  assert.equal(liveTensors(), start);
  const grown = (Deno.memoryUsage().rss - rss0) / 1e6;
  assert.ok(grown < 50, `RSS grew by ${grown.toFixed(1)} MB`);
  a.dispose();
  b.dispose();
});
