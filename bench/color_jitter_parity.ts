/**
 * Colour jitter parity with Pillow (not a timed benchmark, not in CI):
 * jitters noise images and smooth gradients with lade's native ColorJitter
 * (the loader's draws for strength 0.4, and the extreme factors 0 and 1.4),
 * then has bench/color_jitter_parity.py apply Pillow's ImageEnhance calls
 * that torchvision's ColorJitter makes on PIL images, with the same factors
 * and order, and compares pixel by pixel.
 *
 * ```sh
 * deno run -A bench/color_jitter_parity.ts   # needs /usr/bin/python3 with Pillow and numpy
 * ```
 *
 * @module
 */

import { applyColorJitter, type ColorJitterDraw, colorJitterDraw } from "../lib/data/mod.ts";
import { tensor } from "../lib/torch/mod.ts";

function image(kind: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(3 * h * w);
  let s = 17 + kind;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        out[(c * h + y) * w + x] = kind % 2 === 0 ? s % 256 : Math.min(
          255,
          Math.round((x * 255) / (w - 1) * 0.6 + (y * 255) / (h - 1) * 0.4) +
            c * 17,
        );
      }
    }
  }
  return out;
}

const cases: unknown[] = [];
const extremes: ColorJitterDraw[] = [
  { factors: [0, 1, 1], order: [0, 1, 2] },
  { factors: [1, 0, 1], order: [0, 1, 2] },
  { factors: [1, 1, 0], order: [0, 1, 2] },
  { factors: [1.4, 1.4, 1.4], order: [2, 1, 0] },
];
for (let k = 0; k < 204; k++) {
  const [h, w] = [9 + (k % 7), 11 + (k % 5)];
  const px = image(k, h, w);
  const draw = k < extremes.length ? extremes[k] : colorJitterDraw(3, 1, k, 0.4);
  using t = tensor(px, [3, h, w]);
  using out = applyColorJitter(t, draw);
  cases.push({
    shape: [3, h, w],
    image: Array.from(px),
    factors: draw.factors,
    order: draw.order,
    lade: Array.from(out.toArray() as Uint8Array),
  });
}
const file = await Deno.makeTempFile({ suffix: ".json" });
try {
  await Deno.writeTextFile(file, JSON.stringify(cases));
  const script = new URL("./color_jitter_parity.py", import.meta.url).pathname;
  const r = await new Deno.Command("/usr/bin/python3", { args: [script, file] }).output();
  const text = new TextDecoder().decode(r.stdout).trim();
  console.log(`colour jitter against Pillow's ImageEnhance: ${text}`);
  if (r.code !== 0) {
    console.error(new TextDecoder().decode(r.stderr));
    Deno.exitCode = 1;
  }
} finally {
  await Deno.remove(file);
}
