/**
 * Determinism, as the README promises it: the same seed and the same thread
 * count give bit-identical results (the long tail, the initial weights, the
 * batch order and augmentation all come from the seed; the CPU kernels give
 * the same sums in the same order). Two trainings in separate processes must
 * write the same metrics (timings aside) and the same weights, byte for byte.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { readWeightsFile } from "../../lib/weights/model_weights.ts";
import { writeFixture } from "./fixture.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function train(root: string, out: string): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "train",
      "--dataset",
      "mnist-lt",
      "--root",
      root,
      "--imbalance",
      "3",
      "--epochs",
      "2",
      "--batch-size",
      "16",
      "--seed",
      "3",
      "--threads",
      "1",
      "--out",
      out,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
}

/** metrics.jsonl without what measures time (seconds, images/s, the clock). */
async function metrics(run: string): Promise<unknown[]> {
  const lines = (await Deno.readTextFile(join(run, "metrics.jsonl"))).trim().split("\n");
  return lines.map((l) => {
    const { seconds: _s, images_per_sec: _i, time: _t, ...rest } = JSON.parse(l);
    return rest;
  });
}

/** The final checkpoint's tensors: name and bytes. */
async function weights(run: string): Promise<[string, Uint8Array][]> {
  const m = (await readManifest(run))!;
  const file = await readWeightsFile(join(run, m.model));
  return [...file.tensors].map(([name, t]) => [name, t.data]);
}

Deno.test("the same seed and thread count: bit-identical metrics and weights", async () => {
  const root = await writeFixture();
  try {
    await train(root, join(root, "a"));
    await train(root, join(root, "b"));
    const ma = await metrics(join(root, "a"));
    assert.equal(ma.length, 2);
    assert.deepEqual(await metrics(join(root, "b")), ma);
    const wa = await weights(join(root, "a"));
    const wb = await weights(join(root, "b"));
    assert.deepEqual(wb.map(([n]) => n), wa.map(([n]) => n));
    wa.forEach(([name, bytes], i) => {
      assert.ok(bytes.length > 0);
      assert.deepEqual(wb[i][1], bytes, `${name} differs`);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
