/**
 * SADE's test-time self-supervised aggregation (Zhang et al., NeurIPS 2022;
 * Vanint/SADE-AgnosticLT, test_training_cifar.py `test_training`): with the
 * network frozen, three weights w = softmax(v) over the experts are learned
 * on the unlabelled target images by maximising the cosine similarity of the
 * aggregated predictions softmax(sum_e w_e f_e(x')) of two strongly
 * augmented views x', x'' of each image; the prediction is then
 * argmax sum_e w_e f_e(x) on the image itself.
 *
 * It is transductive, as EM's prior estimate is: the weights are fitted on
 * the very images they then classify, and never see a label (no function
 * here takes one).
 *
 * As the official test-time configs: v starts at 1/3 each (equal weights),
 * SGD with momentum 0.9, Nesterov, weight decay 5e-4 and the CIFAR configs'
 * rate 0.1, batches of 128 in a fresh random order each epoch (the last one
 * smaller), 5 epochs, stopping after an epoch in which a weight, rounded to
 * two decimals, fell below 0.05.
 *
 * The views come precomputed, as the experts' logits of each epoch's two
 * views ([epochs, 2, N, E * C]): the network is frozen and only the weights
 * learn, so the grid's shifted sets, which share test images, can share
 * one pass of the network over the views (lib/predict/logits.ts).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { epochSeed } from "../data/sampler.ts";
import { expertLogits, SADE_EXPERTS } from "../losses/sade.ts";
import { Generator, randperm, tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/** SADE's test-time epochs: pairs of augmented views predicted per test image by default. */
export const TTA_EPOCHS = 5;

/** The test-time optimiser (defaults: SADE's CIFAR test-time config). */
export interface AggregationOptions {
  /** Learning rate (default 0.1). */
  lr?: number;
  /** Momentum (default 0.9). */
  momentum?: number;
  /** Nesterov momentum (default true). */
  nesterov?: boolean;
  /** Weight decay on v (default 5e-4). */
  weightDecay?: number;
  /** Images per step (default 128). */
  batchSize?: number;
  /** Most epochs (default: all the views give, SADE's 5). */
  epochs?: number;
  /** Stop after an epoch in which a weight (rounded to 2 decimals) fell below this (default 0.05). */
  stopBelow?: number;
  /** Keys the order of the images in each epoch (default 0). */
  seed?: number;
  /** Experts (default 3). */
  experts?: number;
}

/** What the aggregation learned. */
export interface Aggregation {
  /** softmax(v): one weight per expert, summing to 1. */
  weights: number[];
  /** Epochs run (fewer than given when a weight fell below `stopBelow`). */
  epochs: number;
  /** Mean cosine similarity of the two views' aggregated predictions in the last epoch. */
  similarity: number;
}

function softmax(v: readonly number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / total);
}

/**
 * sum_e w_e f_e of multi-expert logits [N, E * C] with `weights` (length E):
 * the aggregated logits [N, C]. Equal weights give the plain average.
 *
 * @example Weighted sum of three experts' logits
 * ```ts
 * import assert from "node:assert/strict";
 * import { aggregateLogits } from "./aggregation.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([1, 2, 3, 4, 5, 6], [1, 6]); // experts [1, 2], [3, 4], [5, 6]
 * using mixed = aggregateLogits(logits, [0.5, 0.5, 0]);
 * assert.deepEqual(mixed.toList(), [2, 3]);
 * ```
 */
export function aggregateLogits(logits: Tensor, weights: readonly number[]): Tensor {
  const experts = weights.length;
  return scope(() => {
    let out: Tensor | undefined;
    for (let e = 0; e < experts; e++) {
      const term = expertLogits(logits, e, experts).mul(weights[e]);
      out = out === undefined ? term : out.add(term);
    }
    return out!.contiguous();
  });
}

/**
 * The mean cosine similarity of softmax(sum_e w_e f_e) of two views'
 * logits [B, E * C], with w = softmax(v) for a v that may carry gradients:
 * the quantity SADE's test-time training maximises.
 *
 * @example Two identical views agree fully
 * ```ts
 * import assert from "node:assert/strict";
 * import { viewSimilarity } from "./aggregation.ts";
 * import { tensor, zeros } from "../torch/mod.ts";
 *
 * using view = tensor([2, 0, 1, 1, 0, 3], [1, 6]);
 * using v = zeros([3]);
 * using similarity = viewSimilarity(view, view, v);
 * assert.ok(Math.abs(similarity.item() - 1) < 1e-6);
 * ```
 */
export function viewSimilarity(a: Tensor, b: Tensor, v: Tensor): Tensor {
  const experts = v.shape[0];
  return scope(() => {
    const w = v.softmax(0);
    const aggregate = (x: Tensor) => {
      let out: Tensor | undefined;
      for (let e = 0; e < experts; e++) {
        const term = expertLogits(x, e, experts).mul(w.narrow(0, e, 1));
        out = out === undefined ? term : out.add(term);
      }
      return out!.softmax(1);
    };
    const p = aggregate(a);
    const q = aggregate(b);
    // torch.nn.CosineSimilarity(dim=1, eps=1e-6): p.q / max(|p| |q|, eps).
    const norms = p.square().sum(1).mul(q.square().sum(1)).sqrt().clamp(1e-6);
    return p.mul(q).sum(1).div(norms).mean();
  });
}

/**
 * Learns the aggregation weights from the experts' logits of two augmented
 * views per image and epoch, `views` [epochs, 2, N, E * C] (float, any
 * device): SGD on v maximising `viewSimilarity`, as SADE's test-time training.
 *
 * @example The expert that flips between views loses weight
 * ```ts
 * import assert from "node:assert/strict";
 * import { learnAggregation } from "./aggregation.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * // One epoch, two views of one image: expert 0 says [2, 0] in both, expert 1
 * // [3, 0] then [0, 3], expert 2 nothing.
 * using views = tensor([2, 0, 3, 0, 0, 0, 2, 0, 0, 3, 0, 0], [1, 2, 1, 6]);
 * const { weights } = learnAggregation(views);
 * assert.ok(weights[0] > 1 / 3 && weights[1] < 1 / 3);
 * assert.ok(Math.abs(weights.reduce((a, b) => a + b) - 1) < 1e-9);
 * ```
 */
export function learnAggregation(views: Tensor, options: AggregationOptions = {}): Aggregation {
  const experts = options.experts ?? SADE_EXPERTS;
  const lr = options.lr ?? 0.1;
  const momentum = options.momentum ?? 0.9;
  const nesterov = options.nesterov ?? true;
  const decay = options.weightDecay ?? 5e-4;
  const batchSize = options.batchSize ?? 128;
  const stopBelow = options.stopBelow ?? 0.05;
  if (views.ndim !== 4 || views.shape[1] !== 2 || views.shape[3] % experts !== 0) {
    throw new InputError(
      "views",
      `expected [epochs, 2, N, ${experts} * C] logits of two views, got shape [${views.shape}]`,
    );
  }
  const [given, , n] = views.shape;
  const epochs = Math.min(given, options.epochs ?? given);
  if (n === 0 || epochs < 1) throw new InputError("views", "need at least one image and epoch");
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InputError("batchSize", `must be a positive integer, got ${batchSize}`);
  }
  for (const [name, x] of [["lr", lr], ["momentum", momentum], ["weightDecay", decay]] as const) {
    if (!(Number.isFinite(x) && x >= 0)) throw new InputError(name, `must be >= 0, got ${x}`);
  }

  let v = new Array<number>(experts).fill(1 / experts);
  let buffer: number[] | null = null;
  let run = 0;
  let similarity = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    run++;
    let total = 0;
    using generator = new Generator(epochSeed(options.seed ?? 0, epoch));
    using order = randperm(n, { generator });
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const [value, grad] = scope(() => {
        const rows = order.narrow(0, start, size).to(views.device);
        const pair = views.select(0, epoch);
        const a = pair.select(0, 0).indexSelect(0, rows);
        const b = pair.select(0, 1).indexSelect(0, rows);
        const vt = tensor(v, [experts], "float32").to(views.device, views.dtype);
        vt.requiresGrad = true;
        const sim = viewSimilarity(a, b, vt);
        sim.neg().backward();
        return [sim.item(), Array.from(vt.grad!.toArray() as ArrayLike<number>, Number)];
      });
      total += value * size;
      // torch.optim.SGD (dampening 0): d = g + decay v; b = momentum b + d
      // (b = d at first); Nesterov steps along d + momentum b, else along b.
      const d = grad.map((g, e) => g + decay * v[e]);
      if (momentum > 0) {
        const prev: number[] | null = buffer;
        const b: number[] = prev === null ? d : prev.map((x, e) => momentum * x + d[e]);
        buffer = b;
        const step = nesterov ? d.map((x, e) => x + momentum * b[e]) : b;
        v = v.map((x, e) => x - lr * step[e]);
      } else {
        v = v.map((x, e) => x - lr * d[e]);
      }
    }
    similarity = total / n;
    const weights = softmax(v);
    if (weights.some((w) => Math.round(w * 100) / 100 < stopBelow)) break;
  }
  return { weights: softmax(v), epochs: run, similarity };
}
