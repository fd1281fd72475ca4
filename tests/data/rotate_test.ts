import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { rotateImages, rotationAngles } from "../../lib/data/rotate.ts";
import { tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";

Deno.test("rotation: 0 degrees is the identity, 90 a quarter turn about the centre, corners filled", () => {
  const live = liveTensors();
  scope(() => {
    const s = 5;
    const px = Array.from({ length: 2 * s * s }, (_, k) => k);
    const x = tensor(px, [1, 2, s, s]);
    assert.deepEqual(rotateImages(x, [0], [0, 0]).toList(), px);
    // A quarter turn maps pixel centres onto pixel centres: out[i][j] = in[j][S - 1 - i]
    // (the sampling grid turned by +90 degrees in x right, y down).
    const q = rotateImages(x, [90], [0, 0]).toList();
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          assert.equal(
            q[c * s * s + i * s + j],
            px[c * s * s + j * s + (s - 1 - i)],
            `${c},${i},${j}`,
          );
        }
      }
    }
    // 45 degrees uncovers the corners: they take the fill (per channel).
    const d = rotateImages(x, [45], [-1, -2]).toList();
    assert.equal(d[0], -1);
    assert.equal(d[s * s + s * s - 1], -2);
    // The centre stays put.
    assert.equal(d[2 * s + 2], px[2 * s + 2]);
    assert.throws(() => rotateImages(x, [0, 1], [0, 0]), InputError);
    assert.throws(() => rotateImages(x, [0], [0]), InputError);
  });
  assert.equal(liveTensors(), live);
});

Deno.test("rotation angles: uniform in [-d, d], fixed by (seed, epoch, step), a rank's share a slice of the batch's", () => {
  const at = { seed: 2, epoch: 3, step: 4 };
  const all = rotationAngles(15, at, 64);
  assert.equal(all.length, 64);
  assert.ok(all.every((a) => a >= -15 && a <= 15));
  assert.ok(all.some((a) => a < -7) && all.some((a) => a > 7));
  assert.deepEqual(rotationAngles(15, at, 64), all);
  assert.deepEqual(rotationAngles(15, at, 64, 32, 32), all.slice(32));
  assert.notDeepEqual(rotationAngles(15, { ...at, step: 5 }, 64), all);
  assert.throws(() => rotationAngles(200, at, 4), InputError);
});
