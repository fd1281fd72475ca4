import assert from "node:assert/strict";
import { readMetrics } from "../../lib/run/metrics.ts";
import { train } from "../../lib/train/trainer.ts";
import { liveTensors } from "../../lib/torch/memory.ts";
import { fixtureConfig, quiet, weights, writeFixture } from "./fixture.ts";

Deno.test("mixup, CutMix and rotation (LADE's loss on mixed targets): a resumed run ends bit for bit as an uninterrupted one, and mixing changes training", async () => {
  const root = await writeFixture();
  const mixed = fixtureConfig(root, {
    dataset: { rotation: 15 },
    train: { epochs: 2, mixup: 0.4, cutmix: 1 },
  });
  const live = liveTensors();
  await train(mixed, { ...quiet, runDir: `${root}/full` });
  assert.equal(liveTensors(), live, "no tensor handle outlives train()");

  // Stopped in the middle of epoch 2, then resumed.
  const stop = { requested: false };
  const first = await train(mixed, {
    ...quiet,
    runDir: `${root}/cut`,
    stop,
    onStep: (epoch, step) => {
      if (epoch === 1 && step === 2) stop.requested = true;
    },
  });
  assert.deepEqual([first.interrupted, first.epoch, first.step], [true, 1, 3]);
  const second = await train(mixed, { ...quiet, runDir: `${root}/cut`, resume: true });
  assert.equal(second.interrupted, false);

  const a = await weights(`${root}/full`);
  const b = await weights(`${root}/cut`);
  assert.equal(a.length, b.length);
  assert.ok(a.every((x, i) => x === b[i]), "bit-identical weights");
  const losses = async (dir: string) => (await readMetrics(dir)).map((m) => m.loss);
  assert.deepEqual(await losses(`${root}/cut`), await losses(`${root}/full`));

  // The same recipe without mixing and rotation trains otherwise (they are not no-ops).
  const plain = fixtureConfig(root, { train: { epochs: 2 } });
  await train(plain, { ...quiet, runDir: `${root}/plain` });
  const c = await weights(`${root}/plain`);
  assert.ok(c.some((x, i) => x !== a[i]));
  await Deno.remove(root, { recursive: true });
});
