import assert from "node:assert/strict";
import { betaSample, mixBatch } from "../../lib/data/mix.ts";
import { InputError } from "../../lib/errors.ts";
import { Generator, tensor } from "../../lib/torch/create.ts";
import { liveTensors } from "../../lib/torch/memory.ts";

/** A batch of n distinct images [n, 1, s, s] (pixel value 100 i + k) and labels 0..n-1. */
function batch(n: number, s: number) {
  const px = new Float32Array(n * s * s);
  for (let i = 0; i < n; i++) for (let k = 0; k < s * s; k++) px[i * s * s + k] = 100 * i + k;
  const images = tensor(px, [n, 1, s, s]);
  const labels = tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [n]);
  return { images, labels, px };
}

Deno.test("Beta(a, b) draws: mean a / (a + b) and variance ab / ((a + b)^2 (a + b + 1))", () => {
  for (const [a, b] of [[0.4, 0.4], [2, 5], [1, 1]]) {
    using g = new Generator(7);
    const xs = Array.from({ length: 3000 }, () => betaSample(a, b, g));
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
    const m = a / (a + b);
    const v = (a * b) / ((a + b) ** 2 * (a + b + 1));
    // Standard errors: sqrt(v / n) of the mean (0.007 here at most), about 3% of v for the variance.
    assert.ok(Math.abs(mean - m) < 0.03, `Beta(${a}, ${b}) mean ${mean} vs ${m}`);
    assert.ok(Math.abs(variance - v) < 0.12 * v, `Beta(${a}, ${b}) variance ${variance} vs ${v}`);
  }
  using g = new Generator(1);
  assert.throws(() => betaSample(0, 1, g), InputError);
});

Deno.test("mixup: lambda x + (1 - lambda) x[perm], labels[perm]; the same draws for the same step", () => {
  const live = liveTensors();
  const n = 6, s = 3;
  const { images, labels, px } = batch(n, s);
  try {
    const at = { seed: 3, epoch: 2, step: 5 };
    const m = mixBatch(images, labels, { mixup: 0.4 }, at)!;
    assert.equal(m.kind, "mixup");
    assert.ok(m.lambda >= 0 && m.lambda <= 1);
    const perm = Array.from(m.labelsB.toArray() as BigInt64Array, Number);
    assert.deepEqual([...perm].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5], "a permutation");
    const mixed = m.images.toArray() as Float32Array;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < s * s; k++) {
        const want = m.lambda * px[i * s * s + k] + (1 - m.lambda) * px[perm[i] * s * s + k];
        assert.ok(Math.abs(mixed[i * s * s + k] - want) < 1e-3, `${i},${k}`);
      }
    }
    // The same (seed, epoch, step): the same batch; another step: other draws.
    const again = mixBatch(images, labels, { mixup: 0.4 }, at)!;
    assert.equal(again.lambda, m.lambda);
    assert.deepEqual(again.images.toArray(), m.images.toArray());
    const other = mixBatch(images, labels, { mixup: 0.4 }, { ...at, step: 6 })!;
    assert.notEqual(other.lambda, m.lambda);
    for (const t of [m, again, other]) {
      t.images.dispose();
      t.labelsB.dispose();
    }
  } finally {
    images.dispose();
    labels.dispose();
  }
  assert.equal(liveTensors(), live);
});

Deno.test("CutMix: one box of x[perm] pasted in; lambda is the share left unpasted", () => {
  const n = 4, s = 8;
  const { images, labels, px } = batch(n, s);
  let boxes = 0;
  try {
    for (let step = 0; step < 12; step++) {
      const m = mixBatch(images, labels, { cutmix: 1 }, { seed: 0, epoch: 0, step })!;
      assert.equal(m.kind, "cutmix");
      const perm = Array.from(m.labelsB.toArray() as BigInt64Array, Number);
      const mixed = m.images.toArray() as Float32Array;
      // Every pixel is the image's own or its partner's; the pasted ones form a
      // rectangle, the same for every image, of (1 - lambda) S^2 pixels.
      const j = perm.findIndex((p, i) => p !== i);
      if (j < 0) continue; // the identity permutation pastes an image onto itself
      const pasted: number[] = [];
      for (let k = 0; k < s * s; k++) {
        if (mixed[j * s * s + k] === px[perm[j] * s * s + k]) pasted.push(k);
        for (let i = 0; i < n; i++) {
          const own = px[i * s * s + k], other = px[perm[i] * s * s + k];
          const got = mixed[i * s * s + k];
          assert.ok(got === own || got === other, `pixel ${k} of image ${i}`);
          if (perm[i] !== i) assert.equal(got === other, pasted.includes(k), `pixel ${k} of ${i}`);
        }
      }
      assert.ok(Math.abs(m.lambda - (1 - pasted.length / (s * s))) < 1e-12, `step ${step}`);
      if (pasted.length > 0) {
        boxes++;
        const rows = pasted.map((k) => Math.floor(k / s)), cols = pasted.map((k) => k % s);
        const h = Math.max(...rows) - Math.min(...rows) + 1;
        const w = Math.max(...cols) - Math.min(...cols) + 1;
        assert.equal(h * w, pasted.length, "a filled rectangle");
      }
      m.images.dispose();
      m.labelsB.dispose();
    }
    assert.ok(boxes > 0, "some steps pasted a box");
  } finally {
    images.dispose();
    labels.dispose();
  }
});

Deno.test("mixup and CutMix together: each batch one of them; nothing asked, nothing mixed", () => {
  const { images, labels } = batch(4, 4);
  try {
    const kinds = new Set<string>();
    for (let step = 0; step < 16; step++) {
      const m = mixBatch(images, labels, { mixup: 0.2, cutmix: 1 }, { seed: 1, epoch: 0, step })!;
      kinds.add(m.kind);
      m.images.dispose();
      m.labelsB.dispose();
    }
    assert.deepEqual([...kinds].sort(), ["cutmix", "mixup"]);
    assert.equal(mixBatch(images, labels, {}, { seed: 1, epoch: 0, step: 0 }), null);
    assert.equal(mixBatch(images, labels, { mixup: 0 }, { seed: 1, epoch: 0, step: 0 }), null);
    assert.throws(
      () => mixBatch(images, labels, { mixup: -1 }, { seed: 1, epoch: 0, step: 0 }),
      (e: unknown) => e instanceof InputError && e.parameter === "mixup",
    );
  } finally {
    images.dispose();
    labels.dispose();
  }
});
