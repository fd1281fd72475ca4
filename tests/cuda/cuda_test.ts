/**
 * The CUDA path, checked against the CPU. These tests need a CUDA build of
 * libtorch and a GPU: elsewhere each is reported as ignored, with the reason
 * printed once. scripts/device-check.sh runs them on a GPU machine.
 */
import assert from "node:assert/strict";
import { strongAugment } from "../../lib/data/augment.ts";
import { BatchLoader } from "../../lib/data/batch_loader.ts";
import { TensorImageSet } from "../../lib/data/image_set.ts";
import { createLoss } from "../../lib/losses/mod.ts";
import { Model } from "../../lib/models/model.ts";
import { Generator, randint, randn, tensor } from "../../lib/torch/create.ts";
import {
  buildInfo,
  cudaDeviceInfo,
  setCudnnBenchmark,
  useSideStream,
} from "../../lib/torch/cuda.ts";
import { cudaAvailable, manualSeed } from "../../lib/torch/device.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import { freePort } from "../../lib/distributed/launcher.ts";
import { availableBackends, ProcessGroup } from "../../lib/distributed/process_group.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { TrainStep } from "../../lib/train/step.ts";

const CUDA = cudaAvailable();
/**
 * LADE_CUDA_TESTS_ON_CPU=1 runs these tests' own logic with the CPU standing
 * in for the GPU (what needs CUDA itself — device facts, streams, graphs,
 * bf16 — is left out), to check the tests where no GPU is.
 */
const DRY = !CUDA && Deno.env.get("LADE_CUDA_TESTS_ON_CPU") === "1";
if (!CUDA && !DRY) {
  console.log(
    `tests/cuda: no CUDA here (this libtorch ${
      buildInfo().cuda ? "has CUDA but sees no GPU" : "is a CPU build"
    }); the CUDA tests are ignored`,
  );
}
const DEV: "cuda:0" | "cpu" = DRY ? "cpu" : "cuda:0";

/** A test of the CUDA path; `needsGpu`: not even a dry run without one. */
function cudaTest(name: string, fn: () => void | Promise<void>, needsGpu = false) {
  Deno.test({ name: `[cuda] ${name}`, ignore: !(CUDA || (DRY && !needsGpu)), fn });
}

/**
 * Largest |a - b| / (|b| + eps) over two tensors (any devices), as numbers on
 * the host; eps sets the scale below which differences count as absolute
 * (another summation order moves values near 0 by ~1e-7 in float32).
 */
function maxRelDiff(a: Tensor, b: Tensor, eps = 1e-6): number {
  const x = a.toArray() as Float32Array, y = b.toArray() as Float32Array;
  assert.equal(x.length, y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    worst = Math.max(worst, Math.abs(x[i] - y[i]) / (Math.abs(y[i]) + eps));
  }
  return worst;
}

cudaTest("the device reports its name, capability and memory", () => {
  const info = cudaDeviceInfo(0);
  assert.ok(info.name.length > 0);
  assert.ok(info.capability[0] >= 5);
  assert.ok(info.memory_total > info.memory_free && info.memory_free > 0);
  assert.equal(buildInfo().cuda, true);
}, true);

cudaTest("ops and the LADE loss with its gradient on CUDA equal the CPU (fp32)", () => {
  manualSeed(1);
  scope(() => {
    const x = randn([64, 10]);
    const y = randint(0, 10, [64]);
    const xc = x.to(DEV), yc = y.to(DEV);
    for (
      const [name, f] of [
        ["logSoftmax", (t: Tensor) => t.logSoftmax(1)],
        ["matmul", (t: Tensor) => t.matmul(t.t())],
        ["logsumexp", (t: Tensor) => t.logsumexp(0)],
        ["sum", (t: Tensor) => t.exp().sum(1)],
      ] as const
    ) {
      // Relative to the values' own scale (the GPU sums in another order).
      assert.ok(maxRelDiff(f(xc).to("cpu"), f(x), 1e-2) < 1e-5, name);
    }
    const prior = [0.3, 0.2, 0.1, 0.1, 0.08, 0.07, 0.05, 0.04, 0.03, 0.03];
    const grads: Tensor[] = [];
    const values: number[] = [];
    for (const [logits, labels] of [[x, y], [xc, yc]] as const) {
      const l = logits.detach();
      l.requiresGrad = true;
      const loss = createLoss("lade", {
        trainCounts: prior.map((p) => p * 1000),
        alpha: 0.1,
        lambda: 0.1,
        device: l.device,
      });
      const value = loss(l, labels, { epoch: 0, epochs: 1 });
      value.backward();
      values.push(value.item());
      grads.push(l.grad!.to("cpu"));
      loss.dispose();
    }
    assert.ok(Math.abs(values[0] - values[1]) < 1e-5 * Math.abs(values[0]));
    assert.ok(maxRelDiff(grads[1], grads[0], 1e-4) < 1e-4);
  });
});

/** Two identical cnn28 models with their optimisers on `device`. */
function pair(device: "cpu" | "cuda:0") {
  manualSeed(7);
  const model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1, device });
  const opt = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  return { model, opt };
}

function batches(n: number): [Tensor, Tensor][] {
  manualSeed(3);
  return Array.from({ length: n }, () => [randn([32, 1, 28, 28]), randint(0, 10, [32])]);
}

cudaTest("a training step on CUDA (fp32) equals one on the CPU", () => {
  const data = batches(2);
  const loss = createLoss("lade", { trainCounts: [50, 40, 30, 20, 10, 9, 8, 7, 6, 5] });
  const lossCuda = createLoss("lade", {
    trainCounts: [50, 40, 30, 20, 10, 9, 8, 7, 6, 5],
    device: DEV,
  });
  const cpu = pair("cpu");
  const gpu = pair(DEV);
  for (const [x, y] of data) {
    for (const [{ model, opt }, l, d] of [[cpu, loss, "cpu"], [gpu, lossCuda, DEV]] as const) {
      scope(() => {
        opt.zeroGrad();
        const value = l(model.forward(x.to(d)), y.to(d), { epoch: 0, epochs: 1 });
        value.backward();
        opt.step();
      });
    }
  }
  using a = cpu.model.stateVector(), b = gpu.model.stateVector();
  // cuDNN runs float32 convolutions in TF32 by default (10-bit mantissa):
  // two steps agree with the CPU's to about 1e-3 of the weights' scale.
  const diff = maxRelDiff(b, a, 1e-2);
  assert.ok(diff < 1e-2, `max rel diff ${diff}`);
  for (const p of [cpu, gpu]) p.opt.dispose(), p.model.dispose();
  loss.dispose(), lossCuda.dispose();
  for (const [x, y] of data) x.dispose(), y.dispose();
});

cudaTest("a checkpoint written on CUDA loads on the CPU and back", async () => {
  const dir = await Deno.makeTempDir();
  const gpu = pair(DEV);
  scope(() => gpu.model.forward(randn([4, 1, 28, 28]).to(DEV)));
  gpu.model.save(`${dir}/a.pt`);
  using onGpu = gpu.model.stateVector();
  using cpuModel = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
  cpuModel.load(`${dir}/a.pt`);
  using onCpu = cpuModel.stateVector();
  assert.equal(maxRelDiff(onCpu, onGpu), 0);
  cpuModel.save(`${dir}/b.pt`);
  using back = Model.create({ arch: "cnn28", classes: 10, inChannels: 1, device: DEV });
  back.load(`${dir}/b.pt`);
  using again = back.stateVector();
  assert.equal(maxRelDiff(again, onGpu), 0);
  gpu.opt.dispose(), gpu.model.dispose();
  await Deno.remove(dir, { recursive: true });
});

/** Trains 8 steps with TrainStep, returns the parameters and the sums read at the end. */
function stepRun(cudaGraphs: boolean, precision: "fp32" | "bf16", data: [Tensor, Tensor][]) {
  const { model, opt } = pair(DEV);
  model.precision = precision;
  using loss = createLoss("lade", {
    trainCounts: [50, 40, 30, 20, 10, 9, 8, 7, 6, 5],
    device: DEV,
  });
  if (CUDA) useSideStream(DEV, true);
  try {
    using step = new TrainStep({
      model,
      optimizer: opt,
      loss,
      device: DEV,
      cudaGraphs,
      warmup: 2,
      onWarning: (m) => assert.fail(m),
    });
    for (let i = 0; i < 8; i++) {
      const [x, y] = data[i % data.length];
      scope(() => step.run(x.to(DEV), y.to(DEV), { epoch: 0, epochs: 1 }));
    }
    assert.equal(step.graphed, cudaGraphs && CUDA);
    const sums = step.sums.read();
    const params = model.stateVector();
    opt.dispose(), model.dispose();
    return { params, sums };
  } finally {
    if (CUDA) useSideStream(DEV, false);
  }
}

cudaTest(
  "CUDA-graph steps give the parameters eager steps give (fp32 exactly, bf16 closely)",
  () => {
    setCudnnBenchmark(false);
    const data = batches(4);
    for (const precision of CUDA ? ["fp32", "bf16"] as const : ["fp32"] as const) {
      const eager = stepRun(false, precision, data);
      const graphed = stepRun(true, precision, data);
      const diff = maxRelDiff(graphed.params, eager.params, 1e-3);
      const tol = precision === "fp32" ? 1e-5 : 2e-2;
      assert.ok(diff <= tol, `${precision}: max rel diff ${diff} > ${tol}`);
      assert.ok(
        Math.abs(graphed.sums.loss - eager.sums.loss) <= tol * 10 * Math.abs(eager.sums.loss),
      );
      assert.equal(graphed.sums.nonFinite, 0);
      eager.params.dispose(), graphed.params.dispose();
    }
    for (const [x, y] of data) x.dispose(), y.dispose();
  },
);

cudaTest(
  "SADE: strong augmentation, and eager and CUDA-graph multi-expert steps, equal the CPU's",
  () => {
    setCudnnBenchmark(false);
    // The augmentation draws on the host: the same views on either device.
    scope(() => {
      const x = randn([16, 1, 28, 28]);
      const augment = (d: "cpu" | "cuda:0") => {
        using generator = new Generator(5);
        return strongAugment(x.to(d), { mean: [0.3], std: [0.35], generator }).to("cpu");
      };
      assert.ok(maxRelDiff(augment(DEV), augment("cpu"), 1e-3) < 1e-4);
    });
    const counts = [50, 40, 30, 20, 10, 9, 8, 7, 6, 5];
    const data = batches(4);
    const run = (device: "cpu" | "cuda:0", cudaGraphs: boolean) => {
      manualSeed(7);
      const model = Model.create({ arch: "cnn28-sade", classes: 10, inChannels: 1, device });
      const optimizer = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
      using loss = createLoss("sade", { trainCounts: counts, device });
      if (CUDA && device !== "cpu") useSideStream(device, true);
      try {
        using step = new TrainStep({ model, optimizer, loss, device, cudaGraphs, warmup: 2 });
        for (let i = 0; i < 6; i++) {
          const [x, y] = data[i % data.length];
          scope(() => step.run(x.to(device), y.to(device), { epoch: 0, epochs: 1 }));
        }
        assert.equal(step.graphed, cudaGraphs && CUDA);
        const sums = step.sums.read();
        const params = model.stateVector();
        optimizer.dispose(), model.dispose();
        return { params, sums };
      } finally {
        if (CUDA && device !== "cpu") useSideStream(device, false);
      }
    };
    const cpu = run("cpu", false);
    const eager = run(DEV, false);
    assert.ok(maxRelDiff(eager.params, cpu.params, 1e-3) < 1e-3);
    // The accuracy sums count the experts' average.
    assert.equal(eager.sums.correct, cpu.sums.correct);
    if (CUDA) {
      const graphed = run(DEV, true);
      assert.ok(maxRelDiff(graphed.params, eager.params, 1e-3) <= 1e-6);
      assert.ok(Math.abs(graphed.sums.correct - eager.sums.correct) <= 1);
      graphed.params.dispose();
    }
    cpu.params.dispose(), eager.params.dispose();
    for (const [x, y] of data) x.dispose(), y.dispose();
  },
);

cudaTest("resident batches on the GPU equal the host loader's batches on the CPU", async () => {
  const n = 40, S = 32;
  const bytes = new Uint8Array(n * 3 * S * S).map((_, i) => (i * 2654435761) % 251);
  using set = new TensorImageSet(
    tensor(bytes, [n, 3, S, S]),
    Int32Array.from({ length: n }, (_, i) => i % 7),
  );
  const norm = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
  const opts = { batchSize: 16, train: true, seed: 5 };
  using host = new BatchLoader(set, norm, { ...opts, device: "cpu" });
  using resident = new BatchLoader(set, norm, { ...opts, device: DEV });
  assert.equal(resident.resident, CUDA);
  const a: number[][] = [], b: number[][] = [];
  for await (const batch of host.epoch(2)) {
    a.push([...(batch.images.toArray() as Float32Array)]), batch.dispose();
  }
  for await (const batch of resident.epoch(2)) {
    b.push([...(batch.images.toArray() as Float32Array)]), batch.dispose();
  }
  assert.deepEqual(b, a);
});

cudaTest("no tensor handle outlives a CUDA training run's steps", () => {
  const data = batches(2);
  const before = liveTensors();
  const r = stepRun(true, CUDA ? "bf16" : "fp32", data);
  r.params.dispose();
  assert.equal(liveTensors(), before);
  for (const [x, y] of data) x.dispose(), y.dispose();
});

cudaTest(
  "NCCL at world size 1: a real process group all-reduces and gathers CUDA tensors with autograd",
  () => {
    assert.ok(availableBackends().includes("nccl"), "this CUDA build has NCCL");
    using pg = ProcessGroup.create({
      backend: "nccl",
      rank: 0,
      worldSize: 1,
      masterAddr: "127.0.0.1",
      masterPort: freePort(),
      timeoutSeconds: 60,
      device: DEV,
    });
    scope(() => {
      const flat = tensor(new Float32Array([1, 2, 3, 4, 5]), [5]).to(DEV);
      pg.allReduce(flat, { op: "sum", bucketBytes: 8 });
      assert.deepEqual([...(flat.toArray() as Float32Array)], [1, 2, 3, 4, 5]);
      const x = randn([3, 4]).to(DEV);
      x.requiresGrad = true;
      const gathered = pg.allGather(x);
      assert.deepEqual(gathered.shape, [3, 4]);
      gathered.mul(2).sum().backward();
      assert.ok([...(x.grad!.toArray() as Float32Array)].every((g) => g === 2));
    });
    pg.barrier();
  },
  true,
);
