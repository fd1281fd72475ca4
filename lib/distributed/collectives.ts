/**
 * The two collectives a data-parallel training step needs.
 *
 * Losses that see the whole batch (LADER's per-class means and its batch
 * log-mean-exp, as the paper's DataParallel computed them) are evaluated on
 * the global batch: every rank gathers all ranks' logits and labels
 * (`allGatherBatch`) and computes the same loss L. The gather's backward
 * hands each rank the rows of dL/dlogits that belong to its own samples, so
 * rank r's parameter gradient is g_r = (d z_r / d θ)^T dL/dz_r, and the
 * single-process gradient of the global-batch loss is the SUM over ranks:
 * dL/dθ = Σ_r g_r. So after a global loss the gradients are summed
 * (`lossOver: "global"`); after a loss that is each rank's mean over its own
 * samples (as with PyTorch DDP) they are averaged (`lossOver: "local"`).
 *
 * @module
 */

import type { Tensor } from "../torch/tensor.ts";
import type { AllReduceOptions, ProcessGroup } from "./process_group.ts";

/** Which loss the gradients came from. */
export interface GradientReduction {
  /**
   * global: the same loss of the gathered global batch on every rank (the
   * gradients are summed); local: each rank's loss over its own samples, a
   * mean (the gradients are averaged).
   */
  lossOver: "global" | "local";
  /** Bytes per all-reduce bucket (default 25 MiB). */
  bucketBytes?: number;
}

/**
 * Combines every rank's gradients in place: `flatGrad` is the optimiser's one
 * flat gradient buffer (the parameters' `.grad` are views of it), all-reduced
 * in buckets that overlap each other. Overlap with the backward pass is not
 * attempted: the call comes after backward has finished.
 *
 * @example One rank: the gradients stay as they are
 * ```ts
 * import assert from "node:assert/strict";
 * import { allReduceGradients, availableBackends, freePort, ProcessGroup } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * if (availableBackends().includes("gloo")) {
 *   using pg = ProcessGroup.create({
 *     backend: "gloo",
 *     rank: 0,
 *     worldSize: 1,
 *     masterAddr: "127.0.0.1",
 *     masterPort: freePort(),
 *   });
 *   using flatGrad = tensor([0.5, -1]);
 *   allReduceGradients(pg, flatGrad, { lossOver: "local" });
 *   assert.deepEqual(flatGrad.toList(), [0.5, -1]);
 * }
 * ```
 */
export function allReduceGradients(
  pg: ProcessGroup,
  flatGrad: Tensor,
  options: GradientReduction,
): void {
  if (pg.worldSize === 1) return;
  const o: AllReduceOptions = {
    op: options.lossOver === "global" ? "sum" : "avg",
    ...(options.bucketBytes !== undefined ? { bucketBytes: options.bucketBytes } : {}),
  };
  pg.allReduce(flatGrad, o);
}

/**
 * The global batch's logits (differentiable back to this rank's rows) and
 * labels, concatenated in rank order: with `rankShare` slices, the global
 * batch in its single-process order. `sizes`: every rank's number of samples
 * when they differ (see `shareSizes`).
 *
 * @example One rank: its batch is the global batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { allGatherBatch, availableBackends, freePort, ProcessGroup } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * if (availableBackends().includes("gloo")) {
 *   using pg = ProcessGroup.create({
 *     backend: "gloo",
 *     rank: 0,
 *     worldSize: 1,
 *     masterAddr: "127.0.0.1",
 *     masterPort: freePort(),
 *   });
 *   using logits = tensor([1, 2, 3, 4], [2, 2]);
 *   using labels = tensor(new BigInt64Array([1n, 0n]));
 *   const global = allGatherBatch(pg, logits, labels);
 *   assert.deepEqual([global.logits.toList(), global.labels.toList()], [[1, 2, 3, 4], [1, 0]]);
 *   global.logits.dispose();
 *   global.labels.dispose();
 * }
 * ```
 */
export function allGatherBatch(
  pg: ProcessGroup,
  logits: Tensor,
  labels: Tensor,
  sizes?: readonly number[],
): { logits: Tensor; labels: Tensor } {
  const globalLogits = pg.allGather(logits, sizes);
  try {
    return { logits: globalLogits, labels: pg.allGather(labels, sizes) };
  } catch (e) {
    globalLogits.dispose();
    throw e;
  }
}
