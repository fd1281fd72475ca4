/**
 * `ProcessGroup`: one rank's handle on a c10d process group (native/src/dist.cpp).
 * Rank 0 hosts a TCPStore rendezvous at `masterAddr:masterPort`; every rank
 * then joins a Gloo (CPU) or NCCL (CUDA) group. Collectives block the calling
 * thread until they finish, and fail (a TorchError with one line naming the
 * operation and the rank) when a peer dies or the timeout passes.
 *
 * ```ts ignore
 * using pg = ProcessGroup.create({ backend: "gloo", rank, worldSize, masterAddr, masterPort });
 * pg.allReduce(flatGrad, { op: "sum" });
 * const global = pg.allGather(logits); // differentiable
 * ```
 *
 * @module
 */

import { InputError, TorchError } from "../errors.ts";
import { type Device, parseDevice } from "../torch/device.ts";
import { native } from "../torch/ffi.ts";
import { NativeHandle } from "../torch/handle.ts";
import { DIST_BACKEND, DIST_REDUCE } from "../torch/ops.ts";
import { cString, toCString } from "../torch/strings.ts";
import { int64s, Tensor } from "../torch/tensor.ts";

/** The collective backends: Gloo (CPU tensors), NCCL (CUDA tensors). */
export const BACKENDS = ["gloo", "nccl"] as const;

/** A backend name. */
export type Backend = typeof BACKENDS[number];

const BACKEND_CODES: Record<Backend, number> = DIST_BACKEND;

/** Seconds a rendezvous or a collective may take before a rank gives up (`--dist-timeout`). */
export const DEFAULT_TIMEOUT_SECONDS = 120;

/**
 * The longest timeout there is: a week. Timers count milliseconds in 32
 * bits (at most 2^31 - 1, 24.8 days); a larger value fires at once, and a
 * finished job was reported as failed.
 */
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;

/** Checks a timeout in seconds: a positive number, at most MAX_TIMEOUT_SECONDS. */
export function checkTimeout(seconds: number, parameter = "timeoutSeconds"): number {
  if (typeof seconds !== "number" || !(seconds > 0) || seconds > MAX_TIMEOUT_SECONDS) {
    throw new InputError(
      parameter,
      `must be a number of seconds in (0, ${MAX_TIMEOUT_SECONDS}] (a week), got ${seconds}`,
    );
  }
  return seconds;
}

/** Bytes per all-reduce bucket (PyTorch DDP's default, 25 MiB). */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/**
 * The backends this build of the native library can create.
 *
 * @example What this build can create
 * ```ts
 * import assert from "node:assert/strict";
 * import { availableBackends, BACKENDS } from "./mod.ts";
 *
 * assert.ok(availableBackends().every((b) => BACKENDS.includes(b)));
 * ```
 */
export function availableBackends(): Backend[] {
  const mask = native().lade_dist_backends();
  return BACKENDS.filter((b) => (mask & (1 << BACKEND_CODES[b])) !== 0);
}

/** Checks a backend name (an InputError for anything but gloo and nccl). */
export function parseBackend(name: string): Backend {
  if ((BACKENDS as readonly string[]).includes(name)) return name as Backend;
  throw new InputError("backend", `unknown backend '${name}' (use ${BACKENDS.join(" or ")})`);
}

/**
 * The backend a device uses unless told otherwise: nccl on CUDA, gloo on the CPU.
 *
 * @example NCCL on GPUs, Gloo on CPUs
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultBackend } from "./mod.ts";
 *
 * assert.deepEqual([defaultBackend("cuda:0"), defaultBackend("cpu")], ["nccl", "gloo"]);
 * ```
 */
export function defaultBackend(device: Device): Backend {
  return device.startsWith("cuda") ? "nccl" : "gloo";
}

/**
 * Checks that this build can run `backend` on `device` (an InputError for
 * `backend` otherwise: one this build lacks, nccl without CUDA, nccl for a
 * CPU device).
 */
export function checkBackend(backend: Backend, device?: Device): void {
  const available = availableBackends();
  if (!available.includes(backend)) {
    const others = available.length > 0 ? `; use ${available.join(" or ")}` : "";
    throw new InputError(
      "backend",
      backend === "nccl"
        ? `nccl needs a CUDA build of libtorch with NCCL, and this one has neither${others}`
        : `${backend} is not in this build of lade's native library${others}`,
    );
  }
  if (backend === "nccl" && device !== undefined && !device.startsWith("cuda")) {
    throw new InputError("backend", `nccl runs on CUDA devices, not '${device}'; use gloo`);
  }
}

/**
 * The backend a rank on `device` uses: `name` when given (checked with
 * `checkBackend`), else nccl on CUDA and gloo on the CPU.
 */
export function resolveBackend(name: string | undefined, device: Device): Backend {
  const backend = name === undefined ? defaultBackend(device) : parseBackend(name);
  checkBackend(backend, device);
  return backend;
}

/** What `ProcessGroup.create` needs. */
export interface ProcessGroupOptions {
  /** gloo or nccl (see `defaultBackend`). */
  backend: Backend | string;
  /** This process's rank. */
  rank: number;
  /** Number of ranks. */
  worldSize: number;
  /** Host of rank 0 (the rendezvous). */
  masterAddr: string;
  /** Port of the rendezvous on rank 0. */
  masterPort: number;
  /** Rendezvous and per-collective limit, seconds (default 120). */
  timeoutSeconds?: number;
  /** NCCL: this rank's CUDA device (default: the current one). */
  device?: Device;
}

/** Options of `ProcessGroup.allReduce`. */
export interface AllReduceOptions {
  /** sum (default) or avg (the sum divided by the world size). */
  op?: "sum" | "avg";
  /** Bytes per bucket (default 25 MiB); 0: one bucket. */
  bucketBytes?: number;
}

const freeGroup = (ptr: Deno.PointerObject) => native().lade_dist_free(ptr);

function nativeError(context: string): never {
  const message = cString(native().lade_last_error()).replace(/\s*\n\s*/g, "; ");
  const plain = collectiveMessage(message);
  if (plain !== undefined) throw new CollectiveError(`${context}: ${plain}`, message);
  throw new TorchError(context, message || undefined);
}

/**
 * A collective that failed or timed out: the message in lade's terms (which
 * operation, which rank, the likely cause); the backend's own text (Gloo's
 * file and line, its buffers) is the native message.
 */
export class CollectiveError extends TorchError {
  /** Always "CollectiveError". */
  override name = "CollectiveError";

  /** `message`: what happened, in lade's terms; `nativeMessage`: the backend's text. */
  constructor(message: string, nativeMessage: string) {
    super(message, nativeMessage);
    this.message = message;
  }
}

/**
 * A failed collective's message without the backend's internals: the
 * native side writes "<op> timed out after 3 s on rank 0 of 2 (a peer rank
 * hung or died): <Gloo's text>" or "<op> failed on rank 0 of 2 (a peer rank
 * exited or the network failed): <Gloo's text>"; this keeps what happened,
 * where, and the likely cause. Undefined for any other message.
 */
export function collectiveMessage(message: string): string | undefined {
  const m = /^\S+ (timed out after \S+ s|failed) on (rank \d+ of \d+) \(([^)]*)\)/.exec(message);
  if (m === null) return undefined;
  return m[1].startsWith("timed out")
    ? `${m[1]} on ${m[2]}: ${
      m[3]
    } (a rank that is stopped or stuck is noticed after the dist timeout)`
    : `${m[1]} on ${m[2]}: ${m[3]}`;
}

function positiveInteger(name: string, value: number, min: number, max?: number): void {
  if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
    throw new InputError(
      name,
      `must be an integer ${max === undefined ? `>= ${min}` : `in ${min}..${max}`} (got ${value})`,
    );
  }
}

/** One rank's membership of a process group; free it with dispose() (or `using`). */
export class ProcessGroup extends NativeHandle {
  /** This process's rank. */
  readonly rank: number;
  /** Number of ranks. */
  readonly worldSize: number;
  /** The collective backend. */
  readonly backend: Backend;
  /** The rendezvous, `host:port`. */
  readonly rendezvous: string;

  private constructor(ptr: Deno.PointerObject, o: ProcessGroupOptions, backend: Backend) {
    super("process group", freeGroup, ptr);
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.backend = backend;
    this.rendezvous = `${o.masterAddr}:${o.masterPort}`;
  }

  /**
   * Joins the group: blocks until every rank has (or the timeout passes).
   * Bad options (an unknown backend, nccl where this build or machine has no
   * CUDA, a rank outside the world) throw an InputError; a rendezvous that
   * cannot be reached or hosted throws a TorchError naming the address.
   */
  static create(o: ProcessGroupOptions): ProcessGroup {
    const backend = parseBackend(o.backend);
    positiveInteger("worldSize", o.worldSize, 1);
    positiveInteger("rank", o.rank, 0, o.worldSize - 1);
    positiveInteger("masterPort", o.masterPort, 1, 65535);
    if (o.masterAddr.trim() === "") throw new InputError("masterAddr", "is empty");
    const timeout = checkTimeout(o.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);
    checkBackend(backend);
    let deviceIndex = -1;
    if (backend === "nccl") {
      const device = o.device ?? "cuda:0";
      const { code } = parseDevice(device);
      if (code.type !== 1) {
        throw new InputError("backend", `nccl runs on CUDA devices, not '${device}'; use gloo`);
      }
      deviceIndex = code.index;
    }
    const ptr = native().lade_dist_new(
      BACKEND_CODES[backend],
      o.rank,
      o.worldSize,
      toCString(o.masterAddr.trim()),
      o.masterPort,
      BigInt(Math.max(1, Math.round(timeout * 1000))),
      deviceIndex,
    );
    if (ptr === null) nativeError(`cannot join the ${backend} process group`);
    return new ProcessGroup(ptr, o, backend);
  }

  /**
   * Reduces a flat (1-D, contiguous) tensor across ranks in place, in buckets
   * launched one after another and then waited for, so their transfers
   * overlap each other (not the backward pass).
   */
  allReduce(flat: Tensor, options: AllReduceOptions = {}): void {
    const op = options.op ?? "sum";
    if (op !== "sum" && op !== "avg") {
      throw new InputError("op", `unknown reduction '${op}' (use sum or avg)`);
    }
    const bucketBytes = options.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    if (!Number.isInteger(bucketBytes) || bucketBytes < 0) {
      throw new InputError("bucketBytes", `must be an integer >= 0 (got ${bucketBytes})`);
    }
    const status = native().lade_dist_all_reduce(
      this.ptr,
      flat.ptr,
      DIST_REDUCE[op],
      BigInt(bucketBytes),
    );
    if (status !== 0) nativeError("distributed all-reduce");
  }

  /**
   * Every rank's `t` concatenated along dim 0 in rank order, a new tensor
   * with autograd: its gradient flows back to this rank's rows of `t` only.
   * `sizes` gives every rank's dim-0 size when they differ (the last, short
   * global batch); by default all ranks have this rank's.
   */
  allGather(t: Tensor, sizes?: readonly number[]): Tensor {
    if (sizes !== undefined && sizes.length !== this.worldSize) {
      throw new InputError(
        "sizes",
        `needs ${this.worldSize} entries, one per rank (got ${sizes.length})`,
      );
    }
    const ptr = native().lade_dist_all_gather(
      this.ptr,
      t.ptr,
      sizes === undefined ? null : int64s(sizes),
    );
    if (ptr === null) nativeError("distributed all-gather");
    return new Tensor(ptr);
  }

  /** Overwrites the tensors on every rank with rank `root`'s values (in place, no autograd). */
  broadcast(tensors: Tensor | readonly Tensor[], root = 0): void {
    const list = Array.isArray(tensors) ? tensors : [tensors as Tensor];
    positiveInteger("root", root, 0, this.worldSize - 1);
    const handles = new BigUint64Array(list.length);
    list.forEach((t, i) => handles[i] = BigInt(Deno.UnsafePointer.value(t.ptr)));
    const status = native().lade_dist_broadcast(this.ptr, handles, list.length, root);
    if (status !== 0) nativeError("distributed broadcast");
  }

  /** Returns once every rank has called it (fails after the timeout). */
  barrier(): void {
    if (native().lade_dist_barrier(this.ptr) !== 0) nativeError("distributed barrier");
  }
}
