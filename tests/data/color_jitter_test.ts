import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { BatchLoader } from "../../lib/data/batch_loader.ts";
import {
  applyColorJitter,
  type ColorJitterDraw,
  colorJitterDraw,
} from "../../lib/data/color_jitter.ts";
import { writeImage } from "../../lib/data/image_io.ts";
import { FileImageSet, TensorImageSet } from "../../lib/data/image_set.ts";
import { tensor } from "../../lib/torch/create.ts";

/**
 * Pillow's arithmetic, written out independently of the native code:
 * Image.blend(degenerate, image, f) is trunc(d + f * (x - d)) in float32,
 * clamped to 0..255; ImageEnhance.Contrast blends with int(mean(L) + 0.5),
 * Color with L, Brightness with 0; L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
 */
function pillowJitter(px: Uint8Array, h: number, w: number, d: ColorJitterDraw): Uint8Array {
  const out = px.slice();
  const n = h * w;
  const blend = (deg: number, x: number, f: number) => {
    const t = Math.fround(deg + Math.fround(Math.fround(f) * (x - deg)));
    return t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
  };
  const grey = (i: number) =>
    Math.floor((out[i] * 19595 + out[n + i] * 38470 + out[2 * n + i] * 7471 + 32768) / 65536);
  for (const op of d.order) {
    const f = d.factors[op];
    if (op === 0) {
      for (let i = 0; i < 3 * n; i++) out[i] = blend(0, out[i], f);
    } else if (op === 1) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += grey(i);
      const mean = Math.trunc(sum / n + 0.5);
      for (let i = 0; i < 3 * n; i++) out[i] = blend(mean, out[i], f);
    } else {
      for (let i = 0; i < n; i++) {
        const l = grey(i);
        for (let c = 0; c < 3; c++) out[c * n + i] = blend(l, out[c * n + i], f);
      }
    }
  }
  return out;
}

function noiseImage(h: number, w: number, seed: number): Uint8Array {
  let s = seed;
  return Uint8Array.from({ length: 3 * h * w }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % 256;
  });
}

Deno.test("colour jitter: the native arithmetic equals Pillow's, written out here", () => {
  const h = 5, w = 7;
  const px = noiseImage(h, w, 3);
  using img = tensor(px, [3, h, w]);
  const cases: ColorJitterDraw[] = [
    { factors: [1.4, 1, 1], order: [0, 1, 2] },
    { factors: [0.6, 1.4, 0.6], order: [2, 0, 1] },
    { factors: [1.3, 0.7, 1.35], order: [1, 2, 0] },
    { factors: [0, 0, 0], order: [0, 1, 2] },
    { factors: [1, 1, 1], order: [2, 1, 0] },
  ];
  for (let k = 0; k < 40; k++) cases.push(colorJitterDraw(7, 2, k, 0.4));
  for (const d of cases) {
    using out = applyColorJitter(img, d);
    assert.deepEqual(out.shape, [3, h, w]);
    assert.deepEqual(out.toArray(), pillowJitter(px, h, w, d), JSON.stringify(d));
  }
  // Factor 1 everywhere is the identity; brightness 0 is black.
  using same = applyColorJitter(img, { factors: [1, 1, 1], order: [0, 1, 2] });
  assert.deepEqual(same.toArray(), px);
  using black = applyColorJitter(img, { factors: [0, 1, 1], order: [0, 1, 2] });
  assert.ok((black.toArray() as Uint8Array).every((v) => v === 0));
  assert.throws(
    () => applyColorJitter(img, { factors: [1, 1, 1], order: [0, 0, 1] }),
    /permutation/,
  );
});

Deno.test("colour jitter draws: keyed by (seed, epoch, position), a random order, factors in range", () => {
  const seen = new Set<string>();
  for (let k = 0; k < 300; k++) {
    const d = colorJitterDraw(5, 1, k, 0.4);
    assert.deepEqual([...d.order].sort(), [0, 1, 2]);
    for (const f of d.factors) assert.ok(f >= 0.6 - 1e-6 && f <= 1.4 + 1e-6, `${f}`);
    seen.add(d.order.join(""));
    assert.deepEqual(colorJitterDraw(5, 1, k, 0.4), d, "the same key draws the same jitter");
  }
  assert.equal(seen.size, 6, "every order of the three adjustments occurs");
  assert.notDeepEqual(colorJitterDraw(5, 1, 0, 0.4), colorJitterDraw(5, 2, 0, 0.4));
  // A strength of 0 turns an adjustment off (factor 1); strengths above 1 start at 0.
  const off = colorJitterDraw(5, 1, 3, [0, 0.4, 0]);
  assert.equal(off.factors[0], 1);
  assert.equal(off.factors[2], 1);
  const wide = colorJitterDraw(5, 1, 3, 2);
  for (const f of wide.factors) assert.ok(f >= 0 && f <= 3);
  assert.throws(() => colorJitterDraw(5, 1, 3, -0.1), InputError);
  assert.throws(() => colorJitterDraw(5, 1, 3, [0.4, 0.4]), InputError);
});

Deno.test("a jittering list loader: its batches are the plain batches jittered by the drawn factors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths: string[] = [];
    for (let i = 0; i < 5; i++) {
      using img = tensor(noiseImage(20 + 3 * i, 24, 11 + i), [3, 20 + 3 * i, 24]);
      paths.push(join(dir, `n${i}.png`));
      writeImage(img, paths[i]);
    }
    const set = new FileImageSet(paths, Int32Array.from([0, 1, 0, 1, 0]), 12);
    // mean 0, std 1/255: the batches hold the uint8 pixel values exactly.
    const raw = { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] };
    const opts = { batchSize: 2, train: true, device: "cpu" as const, seed: 9, workers: 2 };
    using plain = new BatchLoader(set, raw, opts);
    using jittered = new BatchLoader(set, raw, { ...opts, colorJitter: 0.4 });
    const epochOf = async (loader: BatchLoader, epoch: number) => {
      const out: Float32Array[] = [];
      for await (const b of loader.epoch(epoch)) {
        out.push(b.images.toArray() as Float32Array);
        b.dispose();
      }
      return out;
    };
    for (const epoch of [0, 3]) {
      const a = await epochOf(plain, epoch);
      const b = await epochOf(jittered, epoch);
      assert.deepEqual(await epochOf(jittered, epoch), b, "an epoch replays exactly");
      let position = 0, changed = 0;
      for (let k = 0; k < a.length; k++) {
        const per = 3 * 12 * 12;
        for (let j = 0; j < a[k].length / per; j++, position++) {
          const before = Uint8Array.from(a[k].subarray(j * per, (j + 1) * per));
          using t = tensor(before, [3, 12, 12]);
          using want = applyColorJitter(t, colorJitterDraw(9, epoch, position, 0.4));
          const got = Uint8Array.from(b[k].subarray(j * per, (j + 1) * per));
          assert.deepEqual(got, want.toArray(), `epoch ${epoch}, position ${position}`);
          assert.deepEqual(
            Uint8Array.from(b[k].subarray(j * per, (j + 1) * per)),
            pillowJitter(before, 12, 12, colorJitterDraw(9, epoch, position, 0.4)),
          );
          if (got.some((v, i) => v !== before[i])) changed++;
        }
      }
      assert.equal(position, 5, "every sample of the epoch was checked");
      assert.ok(changed > 0);
    }
    // Evaluation batches are never jittered; small in-memory images cannot be.
    using evalPlain = new BatchLoader(set, raw, { ...opts, train: false });
    using evalJitter = new BatchLoader(set, raw, { ...opts, train: false, colorJitter: 0.4 });
    assert.deepEqual(await epochOf(evalJitter, 0), await epochOf(evalPlain, 0));
    using small = new TensorImageSet(
      tensor(new Uint8Array(2 * 3 * 8 * 8), [2, 3, 8, 8]),
      Int32Array.from([0, 1]),
    );
    assert.throws(
      () => new BatchLoader(small, raw, { ...opts, colorJitter: 0.4 }),
      /colour jitter applies to image files/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
