import assert from "node:assert/strict";
import { localBatchSize, rankShare, shareRange, shareSizes } from "../../lib/distributed/shard.ts";
import { InputError } from "../../lib/errors.ts";

Deno.test("each rank's batch is the global batch over the world size", () => {
  assert.equal(localBatchSize(256, 1), 256);
  assert.equal(localBatchSize(256, 8), 32);
});

Deno.test("a world size that does not divide the batch is one line naming batchSize", () => {
  assert.throws(() => localBatchSize(256, 3), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.parameter, "batchSize");
    assert.equal(
      e.message,
      "batchSize: the global batch 256 does not divide among 3 ranks (use a multiple of 3, such as 255 or 258)",
    );
    return true;
  });
  assert.throws(() => localBatchSize(2, 4), /use a multiple of 4, such as 4/);
  assert.throws(() => localBatchSize(8, 0), /worldSize: must be a positive integer/);
});

Deno.test("ranks take disjoint contiguous slices that cover every global batch in order", () => {
  const order = Int32Array.from({ length: 23 }, (_, i) => (i * 7) % 23);
  for (const w of [1, 2, 3, 4, 5]) {
    for (let start = 0; start < order.length; start += 8) {
      const batch = order.subarray(start, Math.min(start + 8, order.length));
      const pieces = Array.from({ length: w }, (_, r) => Array.from(rankShare(batch, r, w)));
      assert.deepEqual(pieces.flat(), Array.from(batch), `w ${w}`);
      const sizes = pieces.map((p) => p.length);
      assert.deepEqual(sizes, shareSizes(batch.length, w));
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
    }
  }
  assert.deepEqual(shareSizes(10, 4), [3, 3, 2, 2]);
  assert.deepEqual(shareRange(10, 2, 4), { start: 6, length: 2 });
  assert.throws(() => shareRange(10, 4, 4), /rank: must be an integer in 0\.\.3/);
});
