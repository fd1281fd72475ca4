/**
 * Second stages of the decoupled baselines (Kang et al., "Decoupling
 * representation and classifier for long-tailed recognition", ICLR 2020)
 * that change only a trained run's linear classifier, each written as a new
 * run that `evaluate`, `predict` and `weights export` take like any other:
 *
 * - tau-normalisation: each class's weight vector w_c divided by
 *   ||w_c||^tau, the bias dropped (set to 0), as the paper's tau-normalised
 *   classifier; tau = 1 makes every w_c a unit vector, tau = 0 keeps the
 *   weights (and drops the bias). tau is the caller's, or chosen on the
 *   run's held-out validation split (never the test set): the value of
 *   0, 0.1, ..., 2 with the best class-averaged validation accuracy.
 * - LWS (learnable weight scaling): one scale f_c per class learned on the
 *   frozen network with class-balanced sampling, by SGD (momentum 0.9) on
 *   the cross-entropy of f_c * logit_c; then folded into the head (w_c and
 *   b_c times f_c), which gives the same logits.
 *
 * cRT needs no code of its own: `train --init RUN --init-skip head --freeze
 * backbone --sampler balanced` (see the README).
 *
 * @module
 */

import { BatchLoader } from "../data/mod.ts";
import { InputError, LadeError } from "../errors.ts";
import { writeDirAtomic } from "../fs.ts";
import { crossEntropyLoss } from "../losses/cross_entropy.ts";
import type { Model } from "../models/mod.ts";
import type { Device } from "../torch/device.ts";
import { cat, noGrad, ones, scope, type Tensor, zeros } from "../torch/mod.ts";
import { loadCheckpoint, type Manifest, readManifest, saveCheckpoint } from "../run/checkpoint.ts";
import { managingRun } from "../run/managed.ts";
import { runLogitPrior } from "../eval/logit_prior.ts";
import { modelFromManifest } from "../run/run_model.ts";
import { SGD } from "./optimizer.ts";
import { loadConfigDataset } from "../config/dataset.ts";

/** The head's weight [C, D] and bias [C] of a single-head linear model, in place. */
function linearHead(model: Model): { weight: Tensor; bias: Tensor; dispose(): void } {
  const names = model.stateNames();
  const tensors = model.stateTensors();
  const wi = names.indexOf("head.weight"), bi = names.indexOf("head.bias");
  if (wi < 0 || bi < 0 || model.experts > 1) {
    for (const t of tensors) t.dispose();
    throw new InputError(
      `${model.arch}: tau-normalisation and LWS need one linear head (not a cosine or multi-expert one)`,
    );
  }
  const weight = tensors[wi], bias = tensors[bi];
  tensors.forEach((t, i) => i !== wi && i !== bi && t.dispose());
  return {
    weight,
    bias,
    dispose: () => {
      weight.dispose();
      bias.dispose();
    },
  };
}

/** Divides each class's weight vector by its norm to the power `tau` and zeroes the bias, in place. */
export function tauNormalise(model: Model, tau: number): void {
  if (!Number.isFinite(tau) || tau < 0) throw new InputError("tau", `must be >= 0, got ${tau}`);
  const head = linearHead(model);
  try {
    scope(() =>
      noGrad(() => {
        const norms = head.weight.pow(2).sum(1, true).sqrt().clamp(1e-12);
        const scaled = head.weight.div(norms.pow(tau));
        // A huge tau overflows norm^tau (or underflows it to 0): the weights
        // would be NaN, infinite or all zero. Checked before the head changes.
        if (!allFinite(scaled) || scaled.abs().max().item() === 0) {
          throw new StageDivergedError(
            `tau-normalisation with tau ${tau} makes the classifier's weights NaN, infinite or ` +
              "zero (|w_c|^tau overflows); use a tau of a few units at most (the grid tries 0 to 2)",
          );
        }
        head.weight.copy_(scaled);
        head.bias.copy_(zeros([...head.bias.shape]));
      })
    );
  } finally {
    head.dispose();
  }
}

/** A second stage whose result is NaN or infinite: nothing of it is written. */
export class StageDivergedError extends LadeError {
  /** Always "StageDivergedError". */
  override name = "StageDivergedError";
}

/** Whether every value of `t` is finite (counted in libtorch). */
function allFinite(t: Tensor): boolean {
  return scope(() => t.isfinite().all().item() !== 0);
}

/** Multiplies each class's weight vector and bias by `scales[c]`, in place. */
export function scaleClasses(model: Model, scales: Tensor): void {
  const head = linearHead(model);
  try {
    scope(() =>
      noGrad(() => {
        const s = scales.to(head.weight.device).to("float32");
        head.weight.copy_(head.weight.mul(s.unsqueeze(1)));
        head.bias.copy_(head.bias.mul(s));
      })
    );
  } finally {
    head.dispose();
  }
}

/** What a second stage records in the new run's config (`stage2`). */
export interface Stage2Record {
  /** tau-norm or lws. */
  method: "tau-norm" | "lws";
  /** The first-stage run. */
  from: string;
  tau?: number;
  epochs?: number;
  lr?: number;
  /** LWS: the learned scales. */
  scales?: number[];
  /** tau-norm without a given tau: how it was chosen on the validation split. */
  selection?: {
    tau: number;
    /** The validation split, in words. */
    source: string;
    /** Class-averaged validation accuracy (0..1) at the chosen tau. */
    accuracy: number;
    /** Each tau tried and its class-averaged validation accuracy. */
    grid: { tau: number; accuracy: number }[];
  };
}

/** The taus tried when none is given: 0, 0.1, ..., 2. */
export const TAU_GRID: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 10);

/** Mean over classes of the per-class accuracy of `predicted` (classes without samples left out). */
function classAveragedAccuracy(
  predicted: ArrayLike<number>,
  labels: Int32Array,
  classes: number,
): number {
  const hit = new Array(classes).fill(0), n = new Array(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    n[labels[i]]++;
    if (predicted[i] === labels[i]) hit[labels[i]]++;
  }
  const present = n.map((c, k) => (c > 0 ? hit[k] / c : -1)).filter((a) => a >= 0);
  return present.reduce((a, b) => a + b, 0) / Math.max(1, present.length);
}

/**
 * tau for tau-normalisation, chosen on the run's validation split: the
 * features computed once, the logits of every tau of TAU_GRID from them.
 */
async function chooseTau(
  model: Model,
  m: Manifest,
  opts: Stage2Options,
  device: Device,
): Promise<NonNullable<Stage2Record["selection"]>> {
  linearHead(model).dispose(); // a linear head, or a one-line error before the data loads
  const data = await loadConfigDataset(m.config, { onWarning: opts.onWarning });
  try {
    if (data.val === undefined) {
      throw new InputError(
        "tau",
        `${opts.from} has no validation split to choose tau on (train with ` +
          "`dataset.val_per_class` K, or give `tau`; never choose it on the test set)",
      );
    }
    const val = data.val;
    using loader = new BatchLoader(val, data, {
      batchSize: m.config.train.eval_batch_size,
      train: false,
      device,
      seed: 0,
    });
    model.eval();
    const parts: Tensor[] = [];
    try {
      for await (const batch of loader.epoch(0)) {
        try {
          parts.push(scope(() =>
            noGrad(() => {
              const { features, logits } = model.forwardFeatures(batch.images);
              logits.dispose();
              return features.to("float32").to("cpu");
            })
          ));
        } finally {
          batch.dispose();
        }
      }
      const head = linearHead(model);
      try {
        const grid = TAU_GRID.map((tau) => {
          const predicted = scope(() => {
            const features = parts.length === 1 ? parts[0] : cat(parts, 0);
            const w = head.weight.to("cpu");
            const norms = w.pow(2).sum(1, true).sqrt().clamp(1e-12);
            const logits = features.matmul(w.div(norms.pow(tau)).t());
            return Array.from(logits.argmax(1).toArray() as BigInt64Array, Number);
          });
          return { tau, accuracy: classAveragedAccuracy(predicted, val.labels, m.classes) };
        });
        // The best; on a tie the smaller tau (the smaller change).
        const best = grid.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
        return {
          tau: best.tau,
          source: data.valSource ?? "the validation split",
          accuracy: best.accuracy,
          grid,
        };
      } finally {
        head.dispose();
      }
    } finally {
      for (const t of parts) t.dispose();
    }
  } finally {
    data.dispose();
  }
}

/** Options of `runStage2`. */
export interface Stage2Options {
  /** The trained first-stage run. */
  from: string;
  /** The new run's directory (must not hold a run). */
  out: string;
  method: "tau-norm" | "lws";
  /** tau-norm's exponent (default: chosen on the run's validation split). */
  tau?: number;
  /** LWS: epochs of class-balanced sampling (default 10), learning rate (default: the run's), batch size (default: the run's). */
  epochs?: number;
  lr?: number;
  batchSize?: number;
  device?: Device;
  /** Receives progress lines (LWS: an epoch a line). */
  onProgress?: (line: string) => void;
  onWarning?: (message: string) => void;
}

/**
 * Runs a second stage on a trained run and writes the result as a new run
 * (its manifest's config gains `stage2`). Returns the record.
 */
export async function runStage2(opts: Stage2Options): Promise<Stage2Record> {
  const m: Manifest | null = await readManifest(opts.from).catch((e) => {
    if (e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  });
  if (m === null) throw new InputError(`${opts.from} has no checkpoint (checkpoint.json)`);
  if ((await readManifest(opts.out).catch(() => null)) !== null) {
    throw new InputError("out", `${opts.out} already holds a run`);
  }
  // The new run is made whole or not at all (writeDirAtomic below), in a
  // folder of its own: never among other files.
  const existing = await Array.fromAsync(Deno.readDir(opts.out)).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return [];
    if (e instanceof Deno.errors.NotADirectory) {
      throw new InputError("out", `${opts.out} exists and is not a folder`);
    }
    throw e;
  });
  if (existing.length > 0) {
    throw new InputError("out", `${opts.out} is not empty; give a new or empty folder`);
  }
  // Never inside what another run manages (its checkpoints/ folder, whose
  // files that run deletes when it saves).
  const managed = await managingRun(opts.out);
  if (managed !== undefined) {
    throw new InputError(
      "out",
      managed.file === "."
        ? `${opts.out} is a run directory (in training, or a seed group)`
        : `${opts.out} is ${managed.file} of the run ${managed.run}, which that run manages`,
    );
  }
  const device = opts.device ?? "cpu";
  using model = modelFromManifest(m, device);
  await loadCheckpoint(opts.from, model);
  let record: Stage2Record;
  if (opts.method === "tau-norm") {
    let tau = opts.tau;
    let selection: Stage2Record["selection"];
    if (tau === undefined) {
      selection = await chooseTau(model, m, opts, device);
      tau = selection.tau;
      opts.onProgress?.(
        `tau ${tau} chosen on the validation split (${selection.source}): ` +
          `class-averaged accuracy ${(100 * selection.accuracy).toFixed(2)}%`,
      );
    }
    tauNormalise(model, tau);
    record = { method: "tau-norm", from: opts.from, tau, ...(selection ? { selection } : {}) };
  } else {
    record = await learnScales(model, m, opts, device);
  }
  using optimizer = new SGD(model, { lr: m.config.train.lr });
  const config: Manifest["config"] = { ...m.config, stage2: record };
  // Whole or not at all: a run that could not be written leaves no folder behind.
  await writeDirAtomic(opts.out, (dir) => saveStageRun(dir, model, optimizer, m, config));
  return record;
}

/** Saves the new run (the first stage's state, the stage's config). */
async function saveStageRun(
  dir: string,
  model: Model,
  optimizer: SGD,
  m: Manifest,
  config: Manifest["config"],
): Promise<void> {
  await saveCheckpoint(dir, model, optimizer, {
    epoch: m.epoch,
    step: 0,
    running: { loss: 0, correct: 0, seen: 0, seconds: 0 },
    trainCounts: m.trainCounts,
    // A rebalanced classifier: the rules compensate the uniform prior.
    logitPrior: runLogitPrior(config, m.trainCounts),
    config,
    arch: m.arch,
    inChannels: m.inChannels,
    classes: m.classes,
    classNames: m.classNames,
  });
}

/** LWS: per-class scales on the frozen network, class-balanced batches. */
async function learnScales(
  model: Model,
  m: Manifest,
  opts: Stage2Options,
  device: Device,
): Promise<Stage2Record> {
  const epochs = opts.epochs ?? 10;
  const lr = opts.lr ?? m.config.train.lr;
  // Safe integers only, as train's epochs (1e20 is an integer, but no count of epochs).
  if (!Number.isSafeInteger(epochs) || epochs < 1) {
    throw new InputError("epochs", `must be a positive integer (at most 2^53 - 1), got ${epochs}`);
  }
  if (!(lr > 0)) throw new InputError("lr", `must be > 0, got ${lr}`);
  linearHead(model).dispose(); // a linear head, or a one-line error before the data loads
  const data = await loadConfigDataset(m.config, { onWarning: opts.onWarning });
  const scales = ones([m.classes]);
  const state: ScaleState = { scales, velocity: scales.mul(0) };
  try {
    using loader = new BatchLoader(data.train, data, {
      batchSize: Math.min(opts.batchSize ?? m.config.train.batch_size, data.train.size),
      train: true,
      device,
      seed: m.config.seed + 1,
      sampler: "balanced",
      dropLast: true,
    });
    // The network stays in eval mode: its batch-norm statistics are kept.
    model.eval();
    for (let epoch = 0; epoch < epochs; epoch++) {
      let total = 0, seen = 0;
      for await (const batch of loader.epoch(epoch)) {
        try {
          total += scaleStep(model, batch, state, lr, epoch) * batch.labels.shape[0];
          seen += batch.labels.shape[0];
        } finally {
          batch.dispose();
        }
      }
      opts.onProgress?.(
        `lws epoch ${epoch + 1}/${epochs}: loss ${(total / Math.max(1, seen)).toFixed(4)}`,
      );
    }
    scaleClasses(model, state.scales);
    const head = linearHead(model);
    try {
      if (!allFinite(head.weight) || !allFinite(head.bias)) {
        throw new StageDivergedError(
          "lws made the classifier's weights NaN or infinite (scales too large); lower `lr`",
        );
      }
    } finally {
      head.dispose();
    }
    return {
      method: "lws",
      from: opts.from,
      epochs,
      lr,
      scales: Array.from(state.scales.toArray() as Float32Array),
    };
  } finally {
    state.scales.dispose();
    state.velocity.dispose();
    data.dispose();
  }
}

/** LWS's per-class scales and their SGD momentum (replaced at every step). */
interface ScaleState {
  scales: Tensor;
  velocity: Tensor;
}

/**
 * One LWS step on a batch: the frozen network's logits, the scaled
 * cross-entropy and an SGD step of the scales; returns the batch's loss.
 */
function scaleStep(
  model: Model,
  batch: { images: Tensor; labels: Tensor },
  state: ScaleState,
  lr: number,
  epoch: number,
): number {
  const logits = scope(() => noGrad(() => model.forward(batch.images).to("float32").to("cpu")));
  try {
    const [next, v, loss] = scope(() => {
      const s = state.scales.detach();
      s.requiresGrad = true;
      const l = crossEntropyLoss(logits.mul(s), batch.labels.to("cpu"));
      l.backward();
      // SGD with momentum 0.9, as the first stage's optimiser.
      const vel = state.velocity.mul(0.9).add(s.grad!);
      return [s.detach().sub(vel.mul(lr)), vel, l.item()] as const;
    });
    state.scales.dispose();
    state.velocity.dispose();
    state.scales = next;
    state.velocity = v;
    // As train does: a loss (or scale) that is no longer finite stops at once.
    if (!Number.isFinite(loss) || !allFinite(state.scales)) {
      throw new StageDivergedError(
        `lws diverged: the loss became NaN or infinite in epoch ${epoch + 1} ` +
          `(learning rate ${lr}); lower \`lr\``,
      );
    }
    return loss;
  } finally {
    logits.dispose();
  }
}
