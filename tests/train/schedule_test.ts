import assert from "node:assert/strict";
import { learningRate, type ScheduleConfig } from "../../lib/train/schedule.ts";

const cifar: ScheduleConfig = {
  type: "multistep",
  warmup_epochs: 5,
  warmup_from: 1 / 3,
  milestones: [120, 160],
  factors: [0.01, 0.0001],
};

Deno.test("CIFAR recipe: warm-up from lr/3 over 5 epochs, x0.01 from 120, x0.0001 from 160", () => {
  const lr = 0.2;
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  near(learningRate(cifar, lr, 0, 200), 0.2 / 3);
  // Epoch 2 of 5: 1/3 + (2/3) * 2/5 = 0.6 of the rate.
  near(learningRate(cifar, lr, 2, 200), 0.2 * 0.6);
  near(learningRate(cifar, lr, 4, 200), 0.2 * (1 / 3 + (2 / 3) * 0.8));
  near(learningRate(cifar, lr, 5, 200), 0.2);
  near(learningRate(cifar, lr, 119, 200), 0.2);
  near(learningRate(cifar, lr, 120, 200), 0.002);
  near(learningRate(cifar, lr, 159, 200), 0.002);
  near(learningRate(cifar, lr, 160, 200), 0.00002);
  near(learningRate(cifar, lr, 199, 200), 0.00002);
});

Deno.test("cosine: half at mid-run, from the full rate after warm-up, 0 at the end", () => {
  const s: ScheduleConfig = {
    type: "cosine",
    warmup_epochs: 0,
    warmup_from: 1,
    milestones: [],
    factors: [],
  };
  assert.equal(learningRate(s, 0.1, 0, 10), 0.1);
  assert.ok(Math.abs(learningRate(s, 0.1, 5, 10) - 0.05) < 1e-12);
  assert.ok(learningRate(s, 0.1, 9, 10) > 0);
  // cos(pi * 9/10): 0.1 * 0.5 * (1 - cos(pi/10)) = 0.00244717...
  assert.ok(Math.abs(learningRate(s, 0.1, 9, 10) - 0.0024471741852423) < 1e-12);
  const warm = { ...s, warmup_epochs: 2, warmup_from: 0.5 };
  assert.equal(learningRate(warm, 0.1, 0, 10), 0.05);
  assert.ok(Math.abs(learningRate(warm, 0.1, 1, 10) - 0.075) < 1e-12);
  assert.equal(learningRate(warm, 0.1, 2, 10), 0.1);
});
