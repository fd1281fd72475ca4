import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { strongAugment, type StrongAugmentOptions } from "../../lib/data/mod.ts";
import { adjustHue } from "../../lib/data/augment.ts";
import { Generator, rand, tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

// Fashion-MNIST's normalisation.
const MEAN = [0.286];
const STD = [0.353];
/** Nothing but what `only` turns on. */
const NONE: StrongAugmentOptions = {
  pad: 0,
  jitterProbability: 0,
  grayscaleProbability: 0,
  blurProbability: 0,
  flipProbability: 0,
};

/** Images in [0, 1] as the loader gives them (normalised). */
function normalised(x01: Tensor, mean = MEAN, std = STD): Tensor {
  const c = mean.length;
  return scope(() => x01.sub(tensor(mean, [1, c, 1, 1])).div(tensor(std, [1, c, 1, 1])));
}
function to01(x: Tensor, mean = MEAN, std = STD): number[] {
  const c = mean.length;
  return scope(() => x.mul(tensor(std, [1, c, 1, 1])).add(tensor(mean, [1, c, 1, 1])).toList());
}
function augment(x: Tensor, seed: number, o: StrongAugmentOptions, mean = MEAN, std = STD) {
  using generator = new Generator(seed);
  return strongAugment(x, { ...o, mean, std, generator });
}
function closeAll(a: number[], b: number[], tol = 1e-5) {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `[${i}] ${v} vs ${b[i]}`));
}

Deno.test("strong augmentation: nothing on is the identity; seeded; frees its intermediates", () => {
  scope(() => {
    const x = normalised(rand([4, 1, 28, 28], { generator: new Generator(1) }));
    closeAll(to01(augment(x, 0, NONE)), to01(x));
    const before = liveTensors();
    const a = augment(x, 7, {});
    assert.equal(liveTensors(), before + 1);
    assert.deepEqual(a.shape, [4, 1, 28, 28]);
    assert.deepEqual(augment(x, 7, {}).toList(), a.toList());
    assert.notDeepEqual(augment(x, 8, {}).toList(), a.toList());
    // Pixels stay in [0, 1].
    for (const v of to01(a)) assert.ok(v >= -1e-5 && v <= 1 + 1e-5, `${v}`);
  });
});

Deno.test("strong augmentation: flip, and a crop is a window of the zero-padded image", () => {
  scope(() => {
    const x01 = rand([3, 1, 6, 6], { generator: new Generator(2) });
    const x = normalised(x01);
    closeAll(to01(augment(x, 0, { ...NONE, flipProbability: 1 })), x01.flip(3).toList());
    const pad = 2;
    const out = to01(augment(x, 3, { ...NONE, pad }));
    const padded = x01.pad([pad, pad, pad, pad]);
    const offsets = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const got = out.slice(i * 36, (i + 1) * 36);
      let found = "";
      for (let dy = 0; dy <= 2 * pad && !found; dy++) {
        for (let dx = 0; dx <= 2 * pad && !found; dx++) {
          const want = padded.select(0, i).narrow(1, dy, 6).narrow(2, dx, 6).toList();
          if (want.every((v, k) => Math.abs(v - got[k]) < 1e-5)) found = `${dy},${dx}`;
        }
      }
      assert.ok(found, `image ${i} is no window of the padded image`);
      offsets.add(found);
    }
    assert.ok(offsets.size > 1, "the offsets are drawn per image");
  });
});

Deno.test("strong augmentation: jitter factors and the Gaussian blur match their formulas", () => {
  scope(() => {
    // A flat image stays flat under contrast and blur; brightness scales it.
    const flat = normalised(tensor(new Array(2 * 64).fill(0.5), [2, 1, 8, 8]));
    const jittered = to01(augment(flat, 4, { ...NONE, jitterProbability: 1, jitter: 0.4 }));
    for (let i = 0; i < 2; i++) {
      const img = jittered.slice(i * 64, (i + 1) * 64);
      img.forEach((v) => assert.ok(Math.abs(v - img[0]) < 1e-5));
      // brightness f in [0.6, 1.4] times 0.5, contrast leaves a flat image alone
      assert.ok(img[0] >= 0.3 - 1e-5 && img[0] <= 0.7 + 1e-5, `${img[0]}`);
    }
    closeAll(
      to01(augment(flat, 5, { ...NONE, blurProbability: 1, blurSigma: [1, 1] })),
      new Array(128).fill(0.5),
    );
    // An impulse in the middle of a 9x9 image blurs into the separable
    // Gaussian of sigma 1: g(dy) g(dx) with g(d) = exp(-d^2 / 2) / sum over |d| <= 3.
    const impulse = new Array(81).fill(0);
    impulse[40] = 1;
    const out = to01(
      augment(normalised(tensor(impulse, [1, 1, 9, 9])), 6, {
        ...NONE,
        blurProbability: 1,
        blurSigma: [1, 1],
      }),
    );
    const z = [-3, -2, -1, 0, 1, 2, 3].reduce((s, d) => s + Math.exp(-(d * d) / 2), 0);
    const g = (d: number) => (Math.abs(d) <= 3 ? Math.exp(-(d * d) / 2) / z : 0);
    out.forEach((v, k) => {
      const dy = Math.floor(k / 9) - 4, dx = (k % 9) - 4;
      assert.ok(Math.abs(v - g(dy) * g(dx)) < 1e-6, `(${dy}, ${dx}): ${v}`);
    });
  });
});

Deno.test("strong augmentation of colour images: grayscale makes the channels equal", () => {
  scope(() => {
    const mean = [0.49, 0.48, 0.45], std = [0.2, 0.2, 0.2];
    const x = normalised(rand([2, 3, 8, 8], { generator: new Generator(3) }), mean, std);
    const out = to01(augment(x, 0, { ...NONE, grayscaleProbability: 1 }, mean, std), mean, std);
    for (let i = 0; i < 2 * 64; i++) {
      const img = Math.floor(i / 64), p = i % 64;
      const r = out[img * 192 + p], gch = out[img * 192 + 64 + p], b = out[img * 192 + 128 + p];
      assert.ok(Math.abs(r - gch) < 1e-5 && Math.abs(r - b) < 1e-5);
    }
    assert.throws(() => augment(x, 0, {}, MEAN, STD), InputError);
    assert.throws(() => augment(x, 0, { jitter: 2 }, mean, std), InputError);
  });
});

/** The hue of one RGB pixel turned by `shift` (colorsys's rgb_to_hsv and hsv_to_rgb, by hand). */
function hueByHand([r, g, b]: number[], shift: number): number[] {
  const maxc = Math.max(r, g, b), minc = Math.min(r, g, b);
  const v = maxc;
  if (maxc === minc) return [v, v, v];
  const s = (maxc - minc) / maxc;
  const [rc, gc, bc] = [r, g, b].map((c) => (maxc - c) / (maxc - minc));
  let h = r === maxc ? bc - gc : g === maxc ? 2 + rc - bc : 4 + gc - rc;
  h = (((h / 6) % 1) + 1) % 1;
  h = (((h + shift) % 1) + 1) % 1;
  const i = Math.floor(h * 6), f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  return [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
}

Deno.test("hue shift of colour images: the HSV round trip by hand; a zero shift changes nothing", () => {
  scope(() => {
    const x = rand([2, 3, 4, 4], { generator: new Generator(9) });
    const px = x.toArray() as Float32Array;
    const shifts = [0.1, -0.35];
    const out = adjustHue(x, shifts).toArray() as Float32Array;
    for (let i = 0; i < 2; i++) {
      for (let p = 0; p < 16; p++) {
        const at = (c: number) => i * 48 + c * 16 + p;
        const want = hueByHand([0, 1, 2].map((c) => px[at(c)]), shifts[i]);
        for (let c = 0; c < 3; c++) {
          assert.ok(
            Math.abs(out[at(c)] - want[c]) < 1e-5,
            `${i},${p},${c}: ${out[at(c)]} vs ${want[c]}`,
          );
        }
      }
    }
    const same = adjustHue(x, [0, 0]).toArray() as Float32Array;
    px.forEach((v, k) => assert.ok(Math.abs(same[k] - v) < 1e-5));
    // A grey pixel has no hue: it stays grey.
    const grey = adjustHue(tensor(new Array(3).fill(0.4), [1, 3, 1, 1]), [0.25]).toList();
    grey.forEach((v) => assert.ok(Math.abs(v - 0.4) < 1e-6));
  });
});
