/**
 * SGD with momentum, optional Nesterov momentum and weight decay, computed as
 * torch.optim.SGD does, over flat buffers (native/src/optim.cpp): the
 * parameters and their gradients are views of two contiguous buffers, so a
 * step is a few whole-buffer kernels, data-parallel training all-reduces one
 * gradient buffer, and the learning rate lives on the device (a captured CUDA
 * graph reads the current rate). The rate is set per epoch from
 * lib/train/schedule.ts.
 *
 * @module
 */

import { writeFileAtomicSync } from "../fs.ts";
import { type Model, readFileOrInputError } from "../models/model.ts";
import { checkPtr, checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { NativeHandle } from "../torch/handle.ts";
import { MODEL_PART } from "../torch/ops.ts";
import { Tensor } from "../torch/tensor.ts";

/** SGD's hyper-parameters. */
export interface SgdOptions {
  /** Initial learning rate. */
  lr: number;
  /** Momentum factor (default 0.9). */
  momentum?: number;
  /** L2 weight decay (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/** Frees an optimiser handle (also from the finaliser). */
function freeSgd(ptr: Deno.PointerObject): void {
  native().lade_sgd_free(ptr);
}

/** An SGD optimiser bound to one model's parameters. */
export class SGD extends NativeHandle {
  #lr: number;

  /** An optimiser over `model`'s parameters; build it after moving the model to its device. */
  constructor(model: Model, opts: SgdOptions) {
    const p = native().lade_sgd_new(
      model.ptr,
      opts.lr,
      opts.momentum ?? 0.9,
      opts.weightDecay ?? 0,
      opts.nesterov ? 1 : 0,
    );
    super("optimiser", freeSgd, checkPtr(p, "SGD"));
    this.#lr = opts.lr;
  }

  /** The current learning rate. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    checkStatus(native().lade_sgd_set_lr(this.ptr, value), "learning rate");
    this.#lr = value;
  }

  /**
   * Sets one parameter group's learning rate: the backbone's or the head's
   * (fine-tuning: a small backbone rate beside the classifier's). Setting
   * `lr` sets both.
   */
  setGroupLr(part: "backbone" | "head", lr: number): void {
    checkStatus(native().lade_sgd_set_group_lr(this.ptr, MODEL_PART[part], lr), `${part} lr`);
  }

  /**
   * Leaves a parameter group out of the step (no weight decay, momentum or
   * update), or with `false` puts it back. Pair with Model.freeze.
   */
  setFrozen(part: "backbone" | "head", frozen = true): void {
    checkStatus(
      native().lade_sgd_set_frozen(this.ptr, MODEL_PART[part], frozen ? 1 : 0),
      `freezing the ${part}`,
    );
  }

  /** Clears the parameters' gradients. */
  zeroGrad(): void {
    checkStatus(native().lade_sgd_zero_grad(this.ptr), "zero_grad");
  }

  /** Updates the parameters with their accumulated gradients. */
  step(): void {
    checkStatus(native().lade_sgd_step(this.ptr), "optimiser step");
  }

  /**
   * The flat gradient buffer (float32 [P]) whose views are the parameters'
   * gradients: a new handle the caller owns (it shares the buffer).
   */
  flatGrad(): Tensor {
    return new Tensor(checkPtr(native().lade_sgd_flat_grad(this.ptr), "flat gradient"));
  }

  /** The momentum buffer as the bytes of a libtorch archive (written by the caller). */
  serialize(): Uint8Array {
    using bytes = new Tensor(
      checkPtr(native().lade_sgd_serialize(this.ptr), "saving the optimiser"),
    );
    return bytes.toArray() as Uint8Array;
  }

  /** Restores a state from bytes made by serialize() (for an optimiser over the same model). */
  deserialize(bytes: Uint8Array, what = "archive bytes"): void {
    checkStatus(
      native().lade_sgd_deserialize(this.ptr, bytes, BigInt(bytes.byteLength)),
      `loading the optimiser ${what}`,
    );
  }

  /** Writes the momentum buffer to `path`, atomically. */
  save(path: string): void {
    writeFileAtomicSync(path, this.serialize());
  }

  /** Restores a state written by save() (for an optimiser over the same model). */
  load(path: string): void {
    this.deserialize(readFileOrInputError(path, "loading the optimiser"), path);
  }
}
