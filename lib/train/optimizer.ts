/**
 * SGD with momentum, optional Nesterov momentum and weight decay, run by
 * torch::optim::SGD over a model's parameters (native/src/optim.cpp). The
 * learning rate is set before each step from lib/train/schedule.ts.
 *
 * @module
 */

import type { Model } from "../models/model.ts";
import { checkPtr, checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { NativeHandle } from "../torch/handle.ts";
import { toCString } from "../torch/strings.ts";

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

  /** Clears the parameters' gradients. */
  zeroGrad(): void {
    checkStatus(native().lade_sgd_zero_grad(this.ptr), "zero_grad");
  }

  /** Updates the parameters with their accumulated gradients. */
  step(): void {
    checkStatus(native().lade_sgd_step(this.ptr), "optimiser step");
  }

  /** Writes the momentum buffers and options to `path`. */
  save(path: string): void {
    checkStatus(
      native().lade_sgd_save(this.ptr, toCString(path)),
      `saving the optimiser to ${path}`,
    );
  }

  /** Restores a state written by save() (for an optimiser over the same model). */
  load(path: string): void {
    checkStatus(native().lade_sgd_load(this.ptr, toCString(path)), `loading the optimiser ${path}`);
  }
}
