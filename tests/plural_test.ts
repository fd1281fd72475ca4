import assert from "node:assert/strict";
import { plural } from "../lib/plural.ts";

Deno.test("plural: 1 epoch, 12 epochs, 1 batch, 3 batches, 14,886 images", () => {
  assert.equal(plural(1, "epoch"), "1 epoch");
  assert.equal(plural(12, "epoch"), "12 epochs");
  assert.equal(plural(0, "file"), "0 files");
  assert.equal(plural(1, "batch", "batches"), "1 batch");
  assert.equal(plural(3, "batch", "batches"), "3 batches");
  assert.equal(plural(14886, "image"), "14,886 images");
  assert.equal(plural(0.5, "epoch"), "0.5 epochs");
});
