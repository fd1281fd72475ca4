/**
 * An image's evaluation view (predict, and the image-list loader's test
 * batches) is torchvision's Resize(resize_to) + CenterCrop(size) on a PIL
 * image, pixel for pixel: Pillow's antialiased bilinear filter in 8-bit fixed
 * point, the crop's offsets rounded half to even, grey as convert("L").
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { prepareImage, writeImage } from "../../lib/data/mod.ts";
import { tensor } from "../../lib/torch/mod.ts";

function crop(path: string, size: number, channels: number, resizeTo: number): number[] {
  using t = prepareImage(path, size, channels, resizeTo);
  return Array.from(t.toArray() as Uint8Array);
}

Deno.test("Resize + CenterCrop on small images, worked by hand", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 4x4 grey, each row 0 100 200 250; Resize(2): the scale is 2, so the
    // triangle is 2 source pixels wide; output pixel 0 (centre 1.0) takes
    // sources 0, 1, 2 with weights 0.75, 0.75, 0.25 (normalised: 3/7, 3/7,
    // 1/7) -> 500/7 = 71.4 -> 71; pixel 1 (centre 3.0) sources 1, 2, 3 with
    // 1/7, 3/7, 3/7 -> 1450/7 = 207.1 -> 207. Equal rows stay equal.
    const rows = [0, 100, 200, 250];
    using a = tensor(Uint8Array.from([...rows, ...rows, ...rows, ...rows]), [1, 4, 4]);
    writeImage(a, join(dir, "a.png"));
    assert.deepEqual(crop(join(dir, "a.png"), 2, 1, 2), [71, 207, 71, 207]);

    // 5x3: the shorter side is already 3 (no resize); CenterCrop(2): top
    // round(0.5) = 0, left round(1.5) = 2 (Python rounds half to even).
    using b = tensor(Uint8Array.from({ length: 15 }, (_, i) => 10 * Math.floor(i / 5) + (i % 5)), [
      1,
      3,
      5,
    ]);
    writeImage(b, join(dir, "b.png"));
    assert.deepEqual(crop(join(dir, "b.png"), 2, 1, 3), [2, 3, 12, 13]);

    // A colour pixel to grey as PIL's convert("L"): (r 19595 + g 38470 + b 7471 + 2^15) >> 16.
    using c = tensor(Uint8Array.from([200, 200, 10, 10, 30, 30]), [3, 1, 2]);
    writeImage(c, join(dir, "c.png"));
    const luma = (r: number, g: number, bl: number) =>
      (r * 19595 + g * 38470 + bl * 7471 + 0x8000) >> 16;
    assert.deepEqual(crop(join(dir, "c.png"), 1, 1, 1), [luma(200, 10, 30)]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("JPEG and PNG photos: the same pixels as torchvision's Resize(256) + CenterCrop(224)", async () => {
  const script = `
import sys, json
import numpy as np
from PIL import Image
import torchvision.transforms as T
out = []
for path in sys.argv[1:]:
    img = T.CenterCrop(224)(T.Resize(256)(Image.open(path).convert("RGB")))
    out.append(np.asarray(img).transpose(2, 0, 1).reshape(-1).tolist())
print(json.dumps(out))
`;
  const dir = await Deno.makeTempDir();
  try {
    // Smooth colour fields with sharp bars, of several sizes and aspect ratios.
    const paths: string[] = [];
    for (const [w, h, ext] of [[500, 375, "jpg"], [257, 411, "png"], [300, 301, "jpg"]] as const) {
      const px = new Uint8Array(3 * w * h);
      for (let ch = 0; ch < 3; ch++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const bar = (Math.floor(x / 7) + Math.floor(y / 11) + ch) % 3 === 0 ? 90 : 0;
            px[(ch * h + y) * w + x] = Math.min(
              255,
              Math.floor(120 + 100 * Math.sin((x * (ch + 1) + y) / 37)) + bar,
            );
          }
        }
      }
      using t = tensor(px, [3, h, w]);
      const path = join(dir, `p${w}x${h}.${ext}`);
      writeImage(t, path, 90);
      paths.push(path);
    }
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("/usr/bin/python3", {
        args: ["-c", script, ...paths],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch {
      console.log("python3 not available: skipped");
      return;
    }
    if (!out.success) {
      console.log("python3 with PIL and torchvision not available: skipped");
      return;
    }
    const reference = JSON.parse(new TextDecoder().decode(out.stdout)) as number[][];
    paths.forEach((path, i) => {
      const mine = crop(path, 224, 3, 256);
      const differing = mine.filter((v, k) => v !== reference[i][k]).length;
      assert.equal(differing, 0, `${path}: ${differing} pixels differ`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
