import assert from "node:assert/strict";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { predictRun, readRunInfo } from "../../lib/predict/run_predictions.ts";
import { train } from "../../lib/train/trainer.ts";
import { accuracy } from "../../lib/eval/metrics.ts";
import { shotGroups } from "../../lib/data/shots.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { fixtureConfig, quiet, weights, writeFixture } from "./fixture.ts";

Deno.test("a run interrupted (mid-epoch, then at an epoch end) and resumed ends with the same weights", async () => {
  const root = await writeFixture();
  // Multi-step schedule with momentum and weight decay so that the optimiser state matters.
  const config = fixtureConfig(root, {
    train: {
      epochs: 3,
      schedule: { type: "multistep", warmup_epochs: 1, milestones: [2], factors: [0.1] },
    },
  });
  const live = liveTensors();
  const full = await train(config, { ...quiet, runDir: `${root}/full` });
  assert.equal(full.interrupted, false);
  assert.equal(liveTensors(), live, "no tensor handle outlives train()");

  // Stop in the middle of epoch 2 (after its 4th step).
  const stop = { requested: false };
  const first = await train(config, {
    ...quiet,
    runDir: `${root}/cut`,
    stop,
    onStep: (epoch, step) => {
      if (epoch === 1 && step === 3) stop.requested = true;
    },
  });
  assert.equal(first.interrupted, true);
  assert.deepEqual([first.epoch, first.step], [1, 4]);
  const m1 = (await readManifest(`${root}/cut`))!;
  assert.deepEqual([m1.epoch, m1.step], [1, 4]);
  assert.equal(m1.running.seen, 4 * 16);

  // Resume, and stop again at the end of epoch 2 (its last step): the stop
  // comes before the epoch's evaluation, which is left to the resumed run
  // (the checkpoint is the epoch's 9 steps done).
  const stop2 = { requested: false };
  const second = await train(config, {
    ...quiet,
    runDir: `${root}/cut`,
    resume: true,
    stop: stop2,
    onStep: (epoch, step) => {
      if (epoch === 1 && step === 8) stop2.requested = true;
    },
  });
  assert.equal(second.interrupted, true);
  assert.deepEqual([second.epoch, second.step], [1, 9]);
  assert.deepEqual((await readMetrics(`${root}/cut`)).map((m) => m.epoch), [1]);

  const third = await train(config, { ...quiet, runDir: `${root}/cut`, resume: true });
  assert.equal(third.interrupted, false);

  const a = await weights(`${root}/full`);
  const b = await weights(`${root}/cut`);
  assert.equal(a.length, b.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  assert.equal(diff, 0, "bit-identical weights");
  // And identical metrics, the resumed epoch's sums included (timings aside).
  const strip = (ms: Awaited<ReturnType<typeof readMetrics>>) =>
    ms.map(({ epoch, loss, lr, train_acc, test_top1 }) => ({
      epoch,
      loss,
      lr,
      train_acc,
      test_top1,
    }));
  assert.deepEqual(
    strip(await readMetrics(`${root}/cut`)),
    strip(await readMetrics(`${root}/full`)),
  );
  assert.deepEqual(third.final, full.final);

  // The learning rates of the metrics follow the schedule: 0.05/3, 0.05, 0.005.
  const lrs = (await readMetrics(`${root}/full`)).map((m) => m.lr);
  assert.deepEqual(lrs.map((x) => +x.toPrecision(6)), [0.0166667, 0.05, 0.005]);

  // predictRun: the test split in file order, the same accuracy as the trainer reported.
  const info = await readRunInfo(`${root}/full`);
  assert.equal(info.method, "lade");
  assert.deepEqual(info.trainCounts, [24, 21, 18, 16, 14, 13, 11, 10, 9, 8]);
  const pred = await predictRun(`${root}/full`);
  assert.deepEqual(pred.logits.shape, [60, 10]);
  assert.deepEqual(Array.from(pred.labels.slice(0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  const acc = scope(() => accuracy(pred.logits, pred.labels, shotGroups(pred.trainCounts)));
  assert.equal(acc.top1, full.final!.top1);
  pred.logits.dispose();
  await Deno.remove(root, { recursive: true });
});
