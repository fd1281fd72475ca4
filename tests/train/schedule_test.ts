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

Deno.test("the official counting: the CIFAR rates per epoch equal a table of the official code's", () => {
  // The official code (hyperconnect/LADE, utils.py WarmupMultiStepLR with
  // warmup_factor 1/3, warmup_epochs 5, milestones [120, 160], gamma 0.01)
  // steps its scheduler at the start of each epoch (run_networks.py), so
  // 1-based epoch E trains at 0.2 * w(E) * 0.01 ** (number of milestones <= E),
  // w(E) = 1/3 * (1 - E/5) + E/5 for E < 5, else 1. By hand:
  const official: [number, number][] = [
    [1, 0.2 * (1 / 3 * 0.8 + 0.2)], // 0.09333 = 0.467 of 0.2
    [2, 0.2 * (1 / 3 * 0.6 + 0.4)], // 0.12 = 0.6
    [3, 0.2 * (1 / 3 * 0.4 + 0.6)], // 0.14667 = 0.733
    [4, 0.2 * (1 / 3 * 0.2 + 0.8)], // 0.17333 = 0.867
    [5, 0.2],
    [6, 0.2],
    [119, 0.2],
    [120, 0.002],
    [121, 0.002],
    [159, 0.002],
    [160, 0.00002],
    [200, 0.00002],
  ];
  const s = { ...cifar, step_at_epoch_start: true };
  for (const [epoch1, rate] of official) {
    const got = learningRate(s, 0.2, epoch1 - 1, 200);
    assert.ok(Math.abs(got - rate) < 1e-12, `epoch ${epoch1}: ${got} vs ${rate}`);
  }
  // The fractions the issue quotes.
  const fractions = [1, 2, 3, 4, 5].map((e) => learningRate(s, 1, e - 1, 200).toFixed(3));
  assert.deepEqual(fractions, ["0.467", "0.600", "0.733", "0.867", "1.000"]);
  // A cosine run counted this way ends its last epoch at 0 (CosineAnnealingLR, T_max = epochs).
  const cos: ScheduleConfig = { ...s, type: "cosine", warmup_epochs: 0, warmup_from: 1 };
  assert.equal(learningRate(cos, 0.1, 179, 180), 0);
  assert.ok(
    Math.abs(learningRate(cos, 0.1, 0, 180) - 0.1 * 0.5 * (1 + Math.cos(Math.PI / 180))) < 1e-15,
  );
});

Deno.test("step (StepLR(10, 0.1), Places-LT's): x0.1 every 10 epochs", () => {
  const s: ScheduleConfig = {
    type: "step",
    warmup_epochs: 0,
    warmup_from: 1,
    milestones: [],
    factors: [],
    step_size: 10,
    gamma: 0.1,
  };
  const rates = [0, 9, 10, 19, 20, 29].map((e) => learningRate(s, 0.05, e, 30));
  const expected = [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005];
  rates.forEach((r, i) => assert.ok(Math.abs(r - expected[i]) < 1e-12, `epoch ${i}: ${r}`));
});
