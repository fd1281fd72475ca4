/**
 * One training step (zero the gradients, forward, loss, backward, optimiser
 * step), run eagerly or, on CUDA, captured once as a CUDA graph and replayed.
 *
 * The step never waits for the device: the running loss, the correct
 * predictions and a count of non-finite losses are summed into tensors on
 * the device (`DeviceSums`), which the trainer reads about once a second and
 * at the end of an epoch. That is what lets a GPU run ahead of the host.
 *
 * With `cudaGraphs`, after a few eager warm-up steps the whole step — the
 * network, the TypeScript loss, backward and the optimiser (whose learning
 * rate lives on the device) — is captured once on this thread's stream and
 * then replayed for every batch: each batch is copied into the tensors the
 * capture read, and one replay runs the hundreds of kernels of a step with
 * no per-kernel launch cost. The capture is taken again when the loss's
 * phase changes (LDAM-DRW's re-weighting) and skipped for a batch of another
 * shape. Replayed steps compute what eager steps compute (a test checks).
 *
 * @module
 */

import { expertMean, type Loss, type LossContext } from "../losses/mod.ts";
import { mixedLoss } from "../losses/mixed.ts";
import type { Model } from "../models/model.ts";
import { full } from "../torch/create.ts";
import { CudaGraph } from "../torch/cuda.ts";
import type { Device } from "../torch/device.ts";
import { scope, untrack } from "../torch/memory.ts";
import { stack, type Tensor, where } from "../torch/tensor.ts";
import type { SGD } from "./optimizer.ts";

/**
 * A mixed batch's targets as a step takes them (lib/data/mix.ts): the second
 * labels and the first labels' weight lambda, a 0-d float32 tensor on the
 * training device (a captured step reads it from there).
 */
export interface StepMix {
  labelsB: Tensor;
  lambda: Tensor;
}

/** What DeviceSums hold, read back to the host. */
export interface SumsRead {
  /** Sum of the batch losses times the batch sizes. */
  loss: number;
  /** Training samples whose argmax was their label. */
  correct: number;
  /** Steps whose loss was NaN or infinite. */
  nonFinite: number;
}

/** Running sums of an epoch, kept on the training device. */
export class DeviceSums {
  readonly #loss: Tensor;
  readonly #correct: Tensor;
  readonly #nonFinite: Tensor;

  /** Zeroed sums on `device`. */
  constructor(device: Device) {
    this.#loss = held(full([], 0, { dtype: "float64", device }));
    this.#correct = held(full([], 0, { dtype: "int64", device }));
    this.#nonFinite = held(full([], 0, { dtype: "int64", device }));
  }

  /** Adds a step: its (detached) scalar loss, logits and labels. Queues work; never waits. */
  add(loss: Tensor, logits: Tensor, labels: Tensor): void {
    scope(() => {
      const n = labels.shape[0];
      this.#loss.copy_(this.#loss.add(loss.detach().to("float64").mul(n)));
      this.#correct.copy_(this.#correct.add(logits.detach().argmax(1).eq(labels).sum()));
      this.#nonFinite.copy_(this.#nonFinite.add(loss.detach().isfinite().logicalNot()));
    });
  }

  /** The sums now (waits for the device to get there). */
  read(): SumsRead {
    return {
      loss: this.#loss.item(),
      correct: this.#correct.item(),
      nonFinite: this.#nonFinite.item(),
    };
  }

  /** Sets the sums (zero, or a checkpoint's values on resume). */
  set(values: { loss: number; correct: number; nonFinite?: number }): void {
    scope(() => {
      this.#loss.copy_(full([], values.loss, { dtype: "float64", device: this.device }));
      this.#correct.copy_(full([], values.correct, { dtype: "int64", device: this.device }));
      this.#nonFinite.copy_(
        full([], values.nonFinite ?? 0, { dtype: "int64", device: this.device }),
      );
    });
  }

  /** Where the sums live. */
  get device(): Device {
    return this.#loss.device;
  }

  /** Frees the sums. */
  dispose(): void {
    this.#loss.dispose();
    this.#correct.dispose();
    this.#nonFinite.dispose();
  }

  /** Frees the sums at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** How a TrainStep runs. */
export interface TrainStepOptions {
  /** The network (in train mode while stepping). */
  model: Model;
  /** Its optimiser. */
  optimizer: SGD;
  /** The loss (its phase decides when a capture is taken again). */
  loss: Loss;
  /** The training device. */
  device: Device;
  /** Capture the step as a CUDA graph after the warm-up (CUDA only; default false). */
  cudaGraphs?: boolean;
  /** Eager steps before the capture (default 3: lazily built state settles first). */
  warmup?: number;
  /**
   * Replaces a step's batch by the one the loss sees (data-parallel training
   * gathers every rank's logits and labels); the default is the batch itself.
   */
  gather?: (logits: Tensor, labels: Tensor) => [Tensor, Tensor];
  /** Runs between backward and the optimiser step (data-parallel gradient all-reduce). */
  afterBackward?: () => void;
  /** Told once when a capture fails and the steps go on eagerly. */
  onWarning?: (message: string) => void;
}

/** A training step, eager or replayed from a CUDA graph. */
export class TrainStep {
  /** The epoch's running sums (on the device). */
  readonly sums: DeviceSums;
  readonly #o: TrainStepOptions;
  readonly #warmup: number;
  #graphs: boolean;
  #eagerSteps = 0;
  #graph: CudaGraph | null = null;
  #phase = "";
  #images: Tensor | null = null;
  #labels: Tensor | null = null;
  #mix: StepMix | null = null;

  /** A step over `options.model` and `options.optimizer`. */
  constructor(options: TrainStepOptions) {
    this.#o = options;
    this.#warmup = options.warmup ?? 3;
    this.#graphs = (options.cudaGraphs ?? false) && options.device !== "cpu";
    this.sums = new DeviceSums(options.device);
  }

  /** True once steps are replayed from a captured graph. */
  get graphed(): boolean {
    return this.#graph !== null;
  }

  /**
   * Queues one step on `images` [N, C, S, S] and `labels` [N] (with `mix`,
   * a mixed batch's targets); returns without waiting.
   */
  run(images: Tensor, labels: Tensor, ctx: LossContext, mix?: StepMix): void {
    if (!this.#graphs) return this.#eager(images, labels, ctx, mix);
    // A batch with mixed targets runs another graph than one without.
    const phase = this.#o.loss.phase(ctx) + (mix ? "/mixed" : "");
    const fits = this.#images !== null && sameShape(this.#images, images) &&
      sameShape(this.#labels!, labels);
    if (this.#graph !== null && phase === this.#phase && fits) {
      this.#images!.copy_(images);
      this.#labels!.copy_(labels);
      if (mix) this.#copyMix(mix);
      this.#graph.replay();
      return;
    }
    if (this.#eagerSteps < this.#warmup || (this.#images !== null && !fits)) {
      return this.#eager(images, labels, ctx, mix);
    }
    this.#capture(images, labels, ctx, phase, mix);
  }

  #eager(images: Tensor, labels: Tensor, ctx: LossContext, mix?: StepMix): void {
    this.#body(images, labels, ctx, mix);
    this.#eagerSteps++;
  }

  /** The step itself: every tensor it makes is freed at its end. */
  #body(images: Tensor, labels: Tensor, ctx: LossContext, mix?: StepMix): void {
    const { model, optimizer, loss, gather, afterBackward } = this.#o;
    scope(() => {
      optimizer.zeroGrad();
      const logits = model.forward(images);
      // Mixed targets travel as a second column beside the labels (one gather).
      const both = mix ? stack([labels, mix.labelsB], 1) : labels;
      const [l, g] = gather ? gather(logits, both) : [logits, both];
      const y = mix ? g.select(1, 0).contiguous() : g;
      const yb = mix ? g.select(1, 1).contiguous() : g;
      const value = mix
        ? mixedLoss(loss, l, y, { labelsB: yb, lambda: mix.lambda }, ctx)
        : loss(l, y, ctx);
      value.backward();
      afterBackward?.();
      optimizer.step();
      // A multi-expert model's accuracy is that of its experts' average; a
      // mixed batch's counts against the label of the larger share.
      const truth = mix ? where(mix.lambda.ge(0.5), y, yb) : y;
      this.sums.add(value, model.experts === 1 ? l : expertMean(l, model.experts), truth);
    });
  }

  /** Copies a mixed batch's targets into the tensors a captured step reads. */
  #copyMix(mix: StepMix): void {
    if (this.#mix === null) {
      this.#mix = { labelsB: held(mix.labelsB.clone()), lambda: held(mix.lambda.clone()) };
    } else {
      this.#mix.labelsB.copy_(mix.labelsB);
      this.#mix.lambda.copy_(mix.lambda);
    }
  }

  #capture(
    images: Tensor,
    labels: Tensor,
    ctx: LossContext,
    phase: string,
    mix?: StepMix,
  ): void {
    this.#dropGraph();
    if (this.#images === null) {
      // The tensors a captured step reads its batch from (kept across replays).
      this.#images = held(images.clone());
      this.#labels = held(labels.clone());
    } else {
      this.#images.copy_(images);
      this.#labels!.copy_(labels);
    }
    if (mix) this.#copyMix(mix);
    const graph = new CudaGraph();
    try {
      graph.captureBegin();
      try {
        this.#body(this.#images, this.#labels!, ctx, mix ? this.#mix! : undefined);
      } catch (e) {
        graph.captureAbort();
        throw e;
      }
      graph.captureEnd();
    } catch (e) {
      // Something in the step cannot be captured: go on eagerly, once told.
      graph.dispose();
      this.#graphs = false;
      this.#o.onWarning?.(
        `CUDA graph capture failed (${(e as Error).message.split("\n")[0]}); ` +
          `training continues without CUDA graphs`,
      );
      return this.#eager(images, labels, ctx, mix);
    }
    this.#graph = graph;
    this.#phase = phase;
    // Capturing records the step without running it: run it now.
    graph.replay();
  }

  #dropGraph(): void {
    this.#graph?.dispose();
    this.#graph = null;
  }

  /** Frees the graph, its input tensors and the sums. */
  dispose(): void {
    this.#dropGraph();
    this.#images?.dispose();
    this.#labels?.dispose();
    this.#mix?.labelsB.dispose();
    this.#mix?.lambda.dispose();
    this.#images = this.#labels = null;
    this.#mix = null;
    this.sums.dispose();
  }

  /** Frees everything at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** `t`, owned by its holder rather than by any enclosing scope(). */
function held(t: Tensor): Tensor {
  untrack(t);
  return t;
}

function sameShape(a: Tensor, b: Tensor): boolean {
  const x = a.shape, y = b.shape;
  return x.length === y.length && x.every((v, i) => v === y[i]) && a.dtype === b.dtype;
}
