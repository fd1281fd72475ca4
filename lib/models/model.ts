/**
 * `Model`: a handle to a torch::nn network built in native/ (backbone and
 * classifier head registered once in C++). Its forward pass returns a new
 * Tensor that carries autograd back into the module's parameters, so losses
 * are written in TypeScript and `loss.backward()` reaches the weights.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { writeFileAtomicSync } from "../fs.ts";
import { MAX_BINARY_BYTES, readInputFileSync } from "../input_file.ts";
import { type Device, parseDevice } from "../torch/device.ts";
import { checkPtr, checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { DTYPE_CODES } from "../torch/dtype.ts";
import { NativeHandle } from "../torch/handle.ts";
import { HEAD, MODEL_PART } from "../torch/ops.ts";
import { toCString } from "../torch/strings.ts";
import { Tensor } from "../torch/tensor.ts";
import {
  type Architecture,
  architectureExperts,
  isArchitecture,
  unknownArchitecture,
} from "./architectures.ts";

export { type Architecture, ARCHITECTURES, defaultArchitecture } from "./architectures.ts";

/** Classifier heads: a linear layer, or cosine similarity times a scale. */
export const HEADS = ["linear", "cosine"] as const;

/** A head name. */
export type Head = typeof HEADS[number];

/** What to build. */
export interface ModelOptions {
  /** The network (see ARCHITECTURES). */
  arch: Architecture;
  /** Number of classes (logits). */
  classes: number;
  /** Image channels (1 grayscale, 3 colour). */
  inChannels: number;
  /** Classifier head (default linear). */
  head?: Head;
  /** Cosine head: the logit scale (default 16). */
  scale?: number;
  /** Where the parameters live (default cpu). */
  device?: Device;
}

/** The precision a network runs in on CUDA (see Model.precision). */
export type Precision = "bf16" | "fp32";

/** Frees a model handle (also from the finaliser). */
function freeModel(ptr: Deno.PointerObject): void {
  native().lade_model_free(ptr);
}

/** The most classes a model may have (its head is classes x features). */
export const MAX_MODEL_CLASSES = 1_000_000;

/** A network owned by JavaScript; free it with dispose() (or `using`). */
export class Model extends NativeHandle {
  /** The architecture it was built as. */
  readonly arch: Architecture;
  /** Number of classes. */
  readonly classes: number;
  /**
   * Experts (3 for SADE's networks, else 1): forward() returns the logits of
   * every expert side by side, [N, experts * classes].
   */
  readonly experts: number;
  #device: Device = "cpu";
  #training = true;
  #precision: Precision = "fp32";

  private constructor(ptr: Deno.PointerObject, arch: Architecture, classes: number) {
    super("model", freeModel, ptr);
    this.arch = arch;
    this.classes = classes;
    this.experts = architectureExperts(arch);
  }

  /**
   * Builds a model in train mode. Its initial weights come from libtorch's
   * global generator: call manualSeed() first for a reproducible start.
   */
  static create(opts: ModelOptions): Model {
    if (!isArchitecture(opts.arch)) {
      throw new InputError("arch", unknownArchitecture(opts.arch));
    }
    const head = opts.head ?? "linear";
    if (!(HEADS as readonly string[]).includes(head)) {
      throw new InputError("head", `unknown head '${head}' (use ${HEADS.join(", ")})`);
    }
    // Counts that size the network: checked before native code allocates by them
    // (classes 1e9 asked for a terabyte, 2.5 leaked "Invalid FFI i32 type").
    const int = (name: string, v: number, min: number, max: number) => {
      if (!Number.isInteger(v) || v < min || v > max) {
        throw new InputError(name, `must be an integer from ${min} to ${max}, got ${v}`);
      }
    };
    int("classes", opts.classes, 1, MAX_MODEL_CLASSES);
    int("inChannels", opts.inChannels, 1, 64);
    const scale = opts.scale ?? 16;
    if (!Number.isFinite(scale) || scale <= 0) {
      throw new InputError("scale", `must be a finite number > 0, got ${scale}`);
    }
    const p = native().lade_model_new(
      toCString(opts.arch),
      opts.classes,
      opts.inChannels,
      HEAD[head as keyof typeof HEAD],
      scale,
    );
    const model = new Model(checkPtr(p, `model ${opts.arch}`), opts.arch, opts.classes);
    if (opts.device !== undefined && opts.device !== "cpu") model.to(opts.device);
    return model;
  }

  /** Where the parameters live. */
  get device(): Device {
    return this.#device;
  }

  /**
   * The precision the network runs in on CUDA: "bf16" (autocast: bf16
   * convolutions and matrix products; the logits still come back as float32,
   * so losses stay in fp32) or "fp32". On the CPU it always runs in fp32, and
   * "bf16" needs a CUDA build of libtorch.
   */
  get precision(): Precision {
    return this.#precision;
  }

  set precision(value: Precision) {
    if (value !== "bf16" && value !== "fp32") {
      throw new InputError("precision", `must be bf16 or fp32, got '${value}'`);
    }
    checkStatus(
      native().lade_model_set_precision(
        this.ptr,
        DTYPE_CODES[value === "bf16" ? "bfloat16" : "float32"],
      ),
      "model precision",
    );
    this.#precision = value;
  }

  /** True in train mode (batch-norm statistics updated), false in eval mode. */
  get training(): boolean {
    return this.#training;
  }

  /** Moves parameters and buffers to `device` (create optimisers after this). */
  to(device: Device): this {
    const { name, code } = parseDevice(device);
    checkStatus(native().lade_model_to(this.ptr, code.type, code.index), `model to ${name}`);
    this.#device = name;
    return this;
  }

  /** Train mode (default) or, with `false`, eval mode. */
  train(flag = true): this {
    checkStatus(native().lade_model_set_train(this.ptr, flag ? 1 : 0), "model mode");
    this.#training = flag;
    return this;
  }

  /** Eval mode: batch norm uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  /** Number of parameter elements. */
  get numParams(): number {
    const n = native().lade_model_num_params(this.ptr);
    if (n < 0n) checkStatus(-1, "parameter count");
    return Number(n);
  }

  /** Length of the feature vector the heads read (all experts' features together). */
  get featureDim(): number {
    const n = native().lade_model_feature_dim(this.ptr);
    if (n < 0) checkStatus(-1, "feature size");
    return n;
  }

  /**
   * Logits [N, experts * classes] of normalised images [N, C, S, S] on the
   * model's device ([N, classes] for a single-expert network).
   */
  forward(images: Tensor): Tensor {
    return new Tensor(checkPtr(native().lade_model_forward(this.ptr, images.ptr), "forward"));
  }

  /** Features [N, D] (before the heads) and logits [N, experts * classes]. */
  forwardFeatures(images: Tensor): { features: Tensor; logits: Tensor } {
    const out = new BigUint64Array(2);
    checkStatus(native().lade_model_forward_features(this.ptr, images.ptr, out), "forward");
    return {
      features: new Tensor(checkPtr(Deno.UnsafePointer.create(out[0]), "features")),
      logits: new Tensor(checkPtr(Deno.UnsafePointer.create(out[1]), "logits")),
    };
  }

  /**
   * Every parameter (and, with `buffers`, batch-norm statistics) flattened
   * into one float32 CPU vector: for comparing weights.
   */
  stateVector(buffers = true): Tensor {
    return new Tensor(
      checkPtr(native().lade_model_state_vector(this.ptr, buffers ? 1 : 0), "state vector"),
    );
  }

  /**
   * The model's own tensors, in place: its parameters, its buffers
   * (batch-norm statistics and counters), or both (parameters first), in
   * registration order. The handles share the model's storage, so an in-place
   * write (a broadcast from another rank) changes the model; the caller
   * disposes them.
   */
  tensors(which: "parameters" | "buffers" | "all" = "all"): Tensor[] {
    const code = which === "parameters" ? 1 : which === "buffers" ? 2 : 3;
    const lib = native();
    const count = lib.lade_model_tensors(this.ptr, code, null, 0);
    if (count < 0) checkStatus(-1, "model tensors");
    const out = new BigUint64Array(count);
    if (count > 0 && lib.lade_model_tensors(this.ptr, code, out, count) !== count) {
      checkStatus(-1, "model tensors");
    }
    return Array.from(
      out,
      (h) => new Tensor(checkPtr(Deno.UnsafePointer.create(h), "model tensor")),
    );
  }

  /**
   * The parameters and buffers as the bytes of a libtorch archive. Made in
   * memory, so the caller writes them (lib/fs.ts's atomic writer) and a file
   * error (a full disk) is an ordinary error.
   */
  serialize(): Uint8Array {
    using bytes = new Tensor(checkPtr(native().lade_model_serialize(this.ptr), "saving the model"));
    return bytes.toArray() as Uint8Array;
  }

  /**
   * Reads parameters and buffers from archive bytes made by serialize() for
   * the same architecture; bytes that are not such an archive are a
   * TorchError naming `what`.
   */
  deserialize(bytes: Uint8Array, what = "archive bytes"): void {
    checkStatus(
      native().lade_model_deserialize(this.ptr, bytes, BigInt(bytes.byteLength)),
      `loading the model ${what}`,
    );
  }

  /**
   * The names of the model's parameters and buffers in state-dict order (as
   * PyTorch's `Module.state_dict()` walks modules): `backbone.conv1.weight`,
   * ..., `head.weight`, `head.bias`.
   */
  stateNames(): string[] {
    const p = native().lade_model_state_names(this.ptr);
    if (p === null) checkStatus(-1, "state names");
    const text = new Deno.UnsafePointerView(p!).getCString();
    return text.split("\n").filter((n) => n !== "");
  }

  /**
   * The tensors stateNames() names, in the same order, in place: each shares
   * the model's storage (copy_ into one sets that weight). The caller
   * disposes them.
   */
  stateTensors(): Tensor[] {
    const lib = native();
    const count = lib.lade_model_state_tensors(this.ptr, null, 0);
    if (count < 0) checkStatus(-1, "state tensors");
    const out = new BigUint64Array(count);
    if (count > 0 && lib.lade_model_state_tensors(this.ptr, out, count) !== count) {
      checkStatus(-1, "state tensors");
    }
    return Array.from(
      out,
      (h) => new Tensor(checkPtr(Deno.UnsafePointer.create(h), "state tensor")),
    );
  }

  /**
   * Freezes (or, with `false`, unfreezes) the backbone or the head: its
   * parameters get no gradients and it stays in eval mode in train mode, so
   * its batch-norm statistics are kept. Optimisers skip it through
   * SGD.setFrozen.
   */
  freeze(part: "backbone" | "head", frozen = true): this {
    checkStatus(
      native().lade_model_freeze(this.ptr, MODEL_PART[part], frozen ? 1 : 0),
      `freezing the ${part}`,
    );
    return this;
  }

  /** Writes parameters and buffers to `path` (libtorch's archive format), atomically. */
  save(path: string): void {
    writeFileAtomicSync(path, this.serialize());
  }

  /** Reads parameters and buffers written by save() for the same architecture. */
  load(path: string): void {
    this.deserialize(readFileOrInputError(path, "loading the model"), path);
  }
}

/**
 * The bytes of `path` (a regular file of at most 16 GiB: a FIFO or a device
 * is refused without reading); a file that cannot be read is an InputError
 * saying `doing`.
 */
export function readFileOrInputError(path: string, doing: string): Uint8Array {
  try {
    return readInputFileSync(path, { maxBytes: MAX_BINARY_BYTES });
  } catch (e) {
    throw new InputError(`${doing} ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}
