/**
 * Data-parallel training on lib/distributed's process groups: what the trainer adds
 * when it runs as one rank of several.
 *
 * - Every rank builds the same model from the same seed, and rank 0's
 *   parameters and buffers are broadcast anyway (`broadcastModel`).
 * - Each epoch keeps its one global sample order from (seed, epoch); rank r
 *   prepares the r-th contiguous share of every global batch (`shard`, for
 *   the BatchLoader), so `batch_size` stays the global batch.
 * - The loss sees the global batch: the logits and labels of all ranks are
 *   gathered (`stepHooks().gather`), the gather's backward hands each rank
 *   the rows of its own samples, and the gradients are SUM-all-reduced over
 *   the optimiser's flat buffer after backward (`stepHooks().afterBackward`).
 *   The parameters then follow single-process training on the global batch,
 *   up to float error (LADER's per-class means and batch log-mean-exp are
 *   taken over the whole batch, as the paper's DataParallel did).
 * - Batch norm normalises with each rank's own batch statistics (as PyTorch
 *   DDP does); the running statistics of rank 0 are the model's (broadcast
 *   before every evaluation, and the ones rank 0's checkpoints hold), which
 *   is what DDP's default `broadcast_buffers` gives.
 * - Evaluation is sharded: each rank predicts a contiguous share of the set
 *   and the logits are gathered (`predictLogits`).
 * - Steps where the ranks must agree (to stop for Ctrl-C) are fixed by
 *   `agree`, a small all-reduce at steps every rank computes alike.
 *
 * @module
 */

import type { DataSplits, ImageSet } from "../data/mod.ts";
import { allGatherBatch, allReduceGradients } from "../distributed/collectives.ts";
import type { RankEnv } from "../distributed/env.ts";
import {
  type Backend,
  DEFAULT_TIMEOUT_SECONDS,
  ProcessGroup,
  resolveBackend,
} from "../distributed/process_group.ts";
import { localBatchSize, shareRange, shareSizes } from "../distributed/shard.ts";
import { InputError } from "../errors.ts";
import type { Model } from "../models/model.ts";
import { noGrad, tensor, zeros } from "../torch/create.ts";
import { cudaDeviceCount, type Device, parseDevice } from "../torch/device.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { SGD } from "./optimizer.ts";
import { predictLogits } from "../predict/logits.ts";

/** How a training run joins a distributed job. */
export interface DistributedOptions {
  /** Where this process sits in the job (`parseRankEnv()`). */
  env: RankEnv;
  /** gloo or nccl (default: nccl on CUDA, gloo on the CPU). */
  backend?: string;
  /**
   * Seconds the rendezvous and each collective may wait for a peer before
   * this rank gives up (default 120): a rank that died is noticed at once, one
   * that hangs after this long.
   */
  timeoutSeconds?: number;
}

/**
 * The device a rank trains on: the CPU stays the CPU; on CUDA each rank uses
 * `cuda:LOCAL_RANK` (whatever index the configuration named), or `cuda:0`
 * when the launcher left each rank one visible device (Slurm's
 * `--gpus-per-task`). An InputError for `device` when the node has fewer
 * devices than local ranks.
 */
export function rankDevice(device: string, env: Pick<RankEnv, "localRank">): Device {
  const { name, code } = parseDevice(device);
  if (code.type === 0) return name;
  const count = cudaDeviceCount();
  if (count === 1) return "cuda:0";
  if (env.localRank >= count) {
    throw new InputError(
      "device",
      `local rank ${env.localRank} has no CUDA device of its own (this node sees ${count}); ` +
        `start at most ${count} ranks a node`,
    );
  }
  return `cuda:${env.localRank}`;
}

/** CPU threads for a rank that was not told: the node's cores shared among its ranks. */
export function rankThreads(env: Pick<RankEnv, "localWorldSize">): number {
  return Math.max(1, Math.floor(navigator.hardwareConcurrency / (env.localWorldSize ?? 1)));
}

/**
 * Checks that the ranks can share the global batch (an InputError for
 * `train.batch_size` otherwise) and returns each rank's part.
 */
export function checkGlobalBatch(batchSize: number, worldSize: number): number {
  try {
    return localBatchSize(batchSize, worldSize);
  } catch (e) {
    if (e instanceof InputError && e.parameter === "batchSize") {
      throw new InputError(
        "train.batch_size",
        e.message.slice("batchSize: ".length),
        { cause: e },
      );
    }
    throw e;
  }
}

/** What `agree` settles among the ranks. */
export interface Agreement {
  /** Some rank was asked to stop. */
  stop: boolean;
  /** Steps until the next agreement. */
  every: number;
}

/** One rank's side of data-parallel training; free it with dispose() (or `using`). */
export class DataParallel {
  /** The process group (every collective of the run goes through it). */
  readonly pg: ProcessGroup;
  /** The device this rank trains on. */
  readonly device: Device;
  #flatGrad: Tensor | null = null;

  private constructor(pg: ProcessGroup, device: Device) {
    this.pg = pg;
    this.device = device;
  }

  /**
   * Joins the job's process group from `device` (use `rankDevice`). Bad
   * options are InputErrors (`backend`, `timeoutSeconds`); a rendezvous that
   * cannot be reached is a TorchError naming its address.
   */
  static create(o: DistributedOptions, device: Device): DataParallel {
    const backend: Backend = resolveBackend(o.backend, device);
    const pg = ProcessGroup.create({
      backend,
      rank: o.env.rank,
      worldSize: o.env.worldSize,
      masterAddr: o.env.masterAddr,
      masterPort: o.env.masterPort,
      timeoutSeconds: o.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      ...(backend === "nccl" ? { device } : {}),
    });
    return new DataParallel(pg, device);
  }

  /** This process's rank. */
  get rank(): number {
    return this.pg.rank;
  }

  /** Number of ranks. */
  get worldSize(): number {
    return this.pg.worldSize;
  }

  /** The BatchLoader's `shard` option: this rank's contiguous share of a batch. */
  shard(): (batchLength: number) => { start: number; length: number } {
    const { rank, worldSize } = this;
    return (n) => shareRange(n, rank, worldSize);
  }

  /**
   * TrainStep's hooks: the loss sees the gathered global batch, and the
   * optimiser's flat gradient is summed over the ranks after backward.
   */
  stepHooks(optimizer: SGD): {
    gather: (logits: Tensor, labels: Tensor) => [Tensor, Tensor];
    afterBackward: () => void;
  } {
    this.#flatGrad?.dispose();
    const flat = optimizer.flatGrad();
    this.#flatGrad = flat;
    return {
      gather: (logits, labels) => {
        const g = allGatherBatch(this.pg, logits, labels);
        return [g.logits, g.labels];
      },
      afterBackward: () => allReduceGradients(this.pg, flat, { lossOver: "global" }),
    };
  }

  /** Overwrites the model's parameters and/or buffers on every rank with rank 0's. */
  broadcastModel(model: Model, which: "parameters" | "buffers" | "all" = "all"): void {
    const tensors = model.tensors(which);
    try {
      if (tensors.length > 0) this.pg.broadcast(tensors, 0);
    } finally {
      for (const t of tensors) t.dispose();
    }
  }

  /**
   * Settles, at a step every rank reaches alike, whether any rank was asked
   * to stop and how many steps to go before asking again (the mean of the
   * ranks' `proposal`s, rounded up). Waits for every rank.
   */
  agree(stop: boolean, proposal: number): Agreement {
    return scope(() => {
      const votes = tensor(Float64Array.of(stop ? 1 : 0, Math.max(1, proposal)), [2])
        .to(this.device);
      this.pg.allReduce(votes, { op: "sum", bucketBytes: 0 });
      const [stops, proposals] = Array.from(votes.to("cpu").toArray() as Float64Array);
      return { stop: stops > 0, every: Math.max(1, Math.ceil(proposals / this.worldSize)) };
    });
  }

  /**
   * Logits [N, classes] (float32, CPU) of every sample of `set` in order, on
   * every rank: each rank predicts its contiguous share (with rank 0's
   * batch-norm statistics, broadcast first) and the shares are gathered, so
   * the result is a single-process prediction of the same weights.
   */
  async predictLogits(
    model: Model,
    set: ImageSet,
    splits: Pick<DataSplits, "mean" | "std">,
    opts: { batchSize: number },
  ): Promise<Tensor> {
    this.broadcastModel(model, "buffers");
    const { rank, worldSize } = this;
    const { start, length } = shareRange(set.size, rank, worldSize);
    let mine: Tensor;
    if (length === 0) {
      mine = zeros([0, model.classes], { device: this.device });
    } else {
      const part = set.subset(Int32Array.from({ length }, (_, i) => start + i));
      try {
        mine = await predictLogits(model, part, splits, {
          device: this.device,
          batchSize: opts.batchSize,
          onDevice: true,
        });
      } finally {
        part.dispose();
      }
    }
    try {
      const sizes = shareSizes(set.size, worldSize);
      return scope(() => noGrad(() => this.pg.allGather(mine, sizes).to("cpu", "float32")));
    } finally {
      mine.dispose();
    }
  }

  /** Leaves the process group. */
  dispose(): void {
    this.#flatGrad?.dispose();
    this.#flatGrad = null;
    this.pg.dispose();
  }

  /** Leaves the process group at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
