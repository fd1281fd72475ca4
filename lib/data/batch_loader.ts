/**
 * BatchLoader: batches of an image set, prepared on native threads while the
 * previous batch is being used. The images stay in native memory as uint8;
 * one native job per batch gathers, crops, flips and normalises it and puts
 * it on the target device (see native/src/data_batch.cpp). Waiting for a
 * batch is a `nonblocking` FFI call, so the JavaScript thread is free
 * meanwhile.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { cudaMemory } from "../torch/cuda.ts";
import { type Device, parseDevice } from "../torch/device.ts";
import { checkPtr, checkStatus, TorchError } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { DEVICE_TYPE } from "../torch/ops.ts";
import { NativeHandle } from "../torch/handle.ts";
import { toCStringList } from "../torch/strings.ts";
import { Tensor } from "../torch/tensor.ts";
import { colorJitterStrength } from "./color_jitter.ts";
import { imageErrorMessage } from "./image_io.ts";
import { FileImageSet, TensorImageSet } from "./image_set.ts";
import { epochOrder, type SamplerKind, SAMPLERS } from "./sampler.ts";
import type { DataSplits, ImageSet } from "./types.ts";

/** One batch on the loader's device; the receiver owns and disposes it. */
export interface Batch {
  /** float32 [N, C, S, S], normalised. */
  images: Tensor;
  /** int64 [N]. */
  labels: Tensor;
  /** Frees both tensors. */
  dispose(): void;
}

/** How a BatchLoader draws and prepares batches. */
export interface LoaderOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Shuffle (or the sampler) and augmentation when true; file order and centre crop when false. */
  train: boolean;
  /** Where batches land. */
  device: Device;
  /** Keys the epoch order and the augmentation draws. */
  seed: number;
  /** Training order (default shuffle). */
  sampler?: SamplerKind;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
  /**
   * Visit the samples in the set's order even when `train` augments them
   * (default false: the sampler's order). SADE's test-time views are
   * augmented test images, kept in order.
   */
  ordered?: boolean;
  /**
   * Image files only: the area scale range [low, high] of the training
   * batches' random-resized crops (torchvision's RandomResizedCrop `scale`;
   * default [0.08, 1]).
   */
  cropScale?: readonly [number, number];
  /** Padding of the random crop of small images (default 4 for 32 px and up, 2 below). */
  pad?: number;
  /** Horizontal flips when training (default true). */
  flip?: boolean;
  /**
   * Image files only: colour jitter of training batches after the crop and
   * flip (torchvision's ColorJitter with hue 0 on PIL images; see
   * color_jitter.ts): one strength for brightness, contrast and saturation,
   * or three. Default 0 (none).
   */
  colorJitter?: number | readonly number[];
  /** Native threads preparing batches (default 1 for in-memory images, CPUs - 1 for files). */
  workers?: number;
  /** Batches prepared ahead, counting the one being waited for (default 2, 3 for files). */
  prefetch?: number;
  /**
   * Keep in-memory images on the target device and prepare each batch there
   * (gather, crop, flip, normalise as tensor ops; the same batches as the
   * host loader). "auto" (the default): on a CUDA device when the images take
   * at most a quarter of its free memory (and 4 GiB); never for image files.
   */
  resident?: boolean | "auto";
  /**
   * Data-parallel training: which part of every batch this process prepares,
   * given the batch's length (lib/distributed's `shareRange` for this rank).
   * `batchSize` stays the global batch and `batchesPerEpoch` counts global
   * batches; each batch yields only this share, with the augmentation draws
   * of its global positions, so the ranks' shares concatenated in rank order
   * are the unsharded batch, bit for bit.
   */
  shard?: (batchLength: number) => { start: number; length: number };
}

/** The most device memory "auto" residence gives the images. */
const RESIDENT_LIMIT_BYTES = 4 * 2 ** 30;

/** Whether a loader keeps `set` on `device` (see LoaderOptions.resident). */
export function useResidentImages(
  set: ImageSet,
  device: Device,
  resident: boolean | "auto" = "auto",
  pad = 0,
): boolean {
  if (!(set instanceof TensorImageSet)) return false;
  if (resident !== "auto") return resident;
  const { code } = parseDevice(device);
  if (code.type !== DEVICE_TYPE.cuda) return false;
  const side = set.imageSize + 2 * pad;
  const bytes = set.baseLabels.length * set.channels * side * side;
  const free = cudaMemory(code.index).free;
  return bytes <= Math.min(RESIDENT_LIMIT_BYTES, free / 4);
}

/** Stops a loader's native threads and frees it (also from the finaliser). */
function freeLoader(ptr: Deno.PointerObject): void {
  native().lade_data_loader_free(ptr);
}

function positiveInt(value: number, parameter: string, max = 2 ** 31 - 1): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InputError(parameter, `must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

/** The most native threads a loader starts (each holds a batch's worth of decoding). */
export const MAX_WORKERS = 256;
/** The most batches a loader prepares ahead (each is a batch of staged images in memory). */
export const MAX_PREFETCH = 64;

/** Batches of one image set, epoch by epoch. */
export class BatchLoader extends NativeHandle {
  /** Batches each epoch yields. */
  readonly batchesPerEpoch: number;
  /** True when the images live on the device and batches are prepared there. */
  readonly resident: boolean = false;
  readonly #set: ImageSet;
  readonly #base: Int32Array;
  readonly #opts: Required<
    Omit<
      LoaderOptions,
      "workers" | "prefetch" | "pad" | "resident" | "shard" | "colorJitter" | "cropScale"
    >
  >;
  readonly #prefetch: number;
  readonly #shard: LoaderOptions["shard"];
  #nextSeq = 0;

  /** A loader over `set`, normalised with `splits.mean` and `splits.std`. */
  constructor(set: ImageSet, splits: Pick<DataSplits, "mean" | "std">, opts: LoaderOptions) {
    super("BatchLoader", freeLoader);
    const batchSize = positiveInt(opts.batchSize, "batchSize");
    const sampler = opts.sampler ?? "shuffle";
    if (!SAMPLERS.includes(sampler)) {
      throw new InputError("sampler", `unknown sampler '${sampler}' (use ${SAMPLERS.join(", ")})`);
    }
    this.#shard = opts.shard;
    this.#opts = {
      batchSize,
      train: opts.train,
      device: opts.device,
      seed: opts.seed,
      sampler,
      dropLast: opts.dropLast ?? false,
      ordered: opts.ordered ?? false,
      flip: opts.flip ?? true,
    };
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) {
      throw new InputError("seed", `must be a non-negative integer, got ${opts.seed}`);
    }
    const jitter = colorJitterStrength(opts.colorJitter ?? 0);
    if (jitter.some((x) => x > 0) && !(set instanceof FileImageSet)) {
      throw new InputError(
        "colorJitter",
        "colour jitter applies to image files (image-list, image-folder)",
      );
    }
    if (opts.cropScale !== undefined) {
      const [lo, hi] = opts.cropScale;
      if (!(set instanceof FileImageSet)) {
        throw new InputError("cropScale", "a crop scale applies to image files (image-list)");
      }
      if (!(lo > 0 && lo <= hi && hi <= 1)) {
        throw new InputError("cropScale", `must be 0 < low <= high <= 1, got [${lo}, ${hi}]`);
      }
    }
    const n = set.size;
    this.batchesPerEpoch = this.#opts.dropLast
      ? Math.floor(n / batchSize)
      : Math.ceil(n / batchSize);
    this.#set = set;
    const c = set.channels;
    if (splits.mean.length !== c || splits.std.length !== c) {
      throw new InputError(
        "mean",
        `normalisation needs ${c} mean and std values (one per channel)`,
      );
    }
    const mean = Float32Array.from(splits.mean);
    const std = Float32Array.from(splits.std);
    const { type, index } = parseDevice(opts.device).code;
    const seed = BigInt(opts.seed);
    const train = opts.train ? 1 : 0;
    const flip = this.#opts.flip ? 1 : 0;
    if (set instanceof TensorImageSet) {
      const pad = opts.pad ?? (set.imageSize >= 32 ? 4 : 2);
      const workers = positiveInt(opts.workers ?? 1, "workers", MAX_WORKERS);
      this.#base = set.indices;
      this.resident = useResidentImages(set, opts.device, opts.resident, pad);
      this.adopt(checkPtr(
        this.resident
          ? native().lade_data_loader_resident(
            set.images.ptr,
            set.baseLabels,
            BigInt(set.baseLabels.length),
            train,
            pad,
            flip,
            mean,
            std,
            type,
            index,
            seed,
          )
          : native().lade_data_loader_from_tensor(
            set.images.ptr,
            set.baseLabels,
            BigInt(set.baseLabels.length),
            train,
            pad,
            flip,
            mean,
            std,
            type,
            index,
            seed,
            workers,
          ),
        "data loader",
      ));
      // A resident loader prepares nothing ahead: batches are built when taken.
      this.#prefetch = this.resident
        ? 1
        : positiveInt(opts.prefetch ?? 2, "prefetch", MAX_PREFETCH);
    } else if (set instanceof FileImageSet) {
      const workers = positiveInt(
        opts.workers ?? Math.min(MAX_WORKERS, Math.max(1, navigator.hardwareConcurrency - 1)),
        "workers",
        MAX_WORKERS,
      );
      this.#base = set.indices;
      const paths = toCStringList(set.basePaths);
      this.adopt(checkPtr(
        native().lade_data_loader_from_list(
          paths,
          BigInt(paths.length),
          set.baseLabels,
          BigInt(set.baseLabels.length),
          set.imageSize,
          train,
          flip,
          mean,
          std,
          type,
          index,
          seed,
          workers,
          BigInt(set.maxPixels),
        ),
        "data loader",
      ));
      if (jitter.some((x) => x > 0)) {
        checkStatus(
          native().lade_data_loader_set_color_jitter(this.ptr, jitter[0], jitter[1], jitter[2]),
          "data loader",
        );
      }
      if (opts.cropScale !== undefined) {
        checkStatus(
          native().lade_data_loader_set_crop_scale(this.ptr, opts.cropScale[0], opts.cropScale[1]),
          "data loader",
        );
      }
      this.#prefetch = positiveInt(opts.prefetch ?? 3, "prefetch", MAX_PREFETCH);
    } else {
      throw new InputError("set", "BatchLoader needs an image set made by lib/data");
    }
  }

  /** Positions (in the set) that epoch `epoch` visits, in order. */
  order(epoch: number): Int32Array {
    const { train, sampler, seed, ordered } = this.#opts;
    if (!train || ordered) return Int32Array.from({ length: this.#set.size }, (_, i) => i);
    return epochOrder(this.#set.labels, sampler, seed, epoch);
  }

  /**
   * The batches of epoch `epoch` (0-based). Their order and augmentation
   * depend only on (seed, epoch). Leaving the loop early drops the batches
   * prepared ahead.
   */
  async *epoch(epoch: number): AsyncIterableIterator<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 2 ** 31 - 1) {
      throw new InputError("epoch", `must be a non-negative integer, got ${epoch}`);
    }
    const lib = native();
    const handle = this.ptr;
    checkStatus(lib.lade_data_loader_cancel(handle), "data loader");
    const order = this.order(epoch);
    const base = new Int32Array(order.length);
    for (let i = 0; i < order.length; i++) base[i] = this.#base[order[i]];
    const { batchSize } = this.#opts;
    const batches = this.batchesPerEpoch;
    const first = this.#nextSeq;
    this.#nextSeq += batches;
    let submitted = 0;
    let complete = false;
    try {
      for (let b = 0; b < batches; b++) {
        while (submitted < Math.min(batches, b + this.#prefetch)) {
          let start = submitted * batchSize;
          let slice = base.subarray(start, Math.min(base.length, start + batchSize));
          if (this.#shard !== undefined) {
            const share = this.#shard(slice.length);
            if (
              !Number.isInteger(share.start) || !Number.isInteger(share.length) ||
              share.start < 0 || share.length < 1 || share.start + share.length > slice.length
            ) {
              throw new InputError(
                "shard",
                `[${share.start}, +${share.length}) is empty or outside a batch of ${slice.length}`,
              );
            }
            start += share.start;
            slice = slice.subarray(share.start, share.start + share.length);
          }
          checkStatus(
            lib.lade_data_loader_submit(
              handle,
              BigInt(first + submitted),
              slice,
              slice.length,
              epoch,
              BigInt(start),
            ),
            "data loader",
          );
          submitted++;
        }
        // Off the JS thread; a failure is reported by take() below.
        await lib.lade_data_loader_wait(handle, BigInt(first + b));
        yield this.#take(first + b);
      }
      complete = true;
    } finally {
      if (!complete && !this.disposed) lib.lade_data_loader_cancel(this.ptr);
    }
  }

  #take(seq: number): Batch {
    const out = new BigUint64Array(2);
    if (native().lade_data_loader_take(this.ptr, BigInt(seq), out) !== 0) {
      try {
        checkStatus(-1, "preparing a batch");
      } catch (e) {
        // A bad image file is the user's data, not a bug.
        const message = (e as Error).message;
        if (/cannot (decode|open|read) (JPEG |PNG )?image/.test(message)) {
          throw new InputError(
            imageErrorMessage(message.replace(/^preparing a batch: /, "")) +
              " (`skipBadImages` decodes every image at load and skips those that fail)",
          );
        }
        throw e;
      }
      throw new TorchError("preparing a batch failed");
    }
    const images = new Tensor(checkPtr(Deno.UnsafePointer.create(out[0]), "batch images"));
    const labels = new Tensor(checkPtr(Deno.UnsafePointer.create(out[1]), "batch labels"));
    return {
      images,
      labels,
      dispose() {
        images.dispose();
        labels.dispose();
      },
    };
  }
}
