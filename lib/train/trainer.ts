/**
 * The training loop. Read it top to bottom: set up (threads, device, data,
 * model, optimiser, loss, loader), optionally restore a checkpoint, then for
 * each epoch set the learning rate, run the batches (forward, loss, backward,
 * step, each inside scope() so no tensor handle outlives its step), evaluate,
 * write metrics and a checkpoint.
 *
 * As one rank of a distributed job (`TrainOptions.distributed`), the same
 * loop runs on every rank over its share of each global batch, with the
 * collectives of data_parallel.ts; only rank 0 writes the run directory.
 *
 * @module
 */

import { InputError, LadeError, StoppedError } from "../errors.ts";
import { removeStaleTemporaries, writeFileAtomic } from "../fs.ts";
import {
  BatchLoader,
  type DataSplits,
  type ImageSet,
  mixBatch,
  shiftIndices,
  shotGroups,
} from "../data/mod.ts";
import { mixes } from "../data/mix.ts";
import { rotateImages, rotationAngles } from "../data/rotate.ts";
import { accuracy } from "../eval/metrics.ts";
import { createLoss, expertMean } from "../losses/mod.ts";
import { Model, type Precision } from "../models/mod.ts";
import { setCudnnBenchmark, useSideStream } from "../torch/cuda.ts";
import { type Device, manualSeed, setNumThreads } from "../torch/device.ts";
import { type TrainingThreads, trainingThreads } from "./threads.ts";
import { full, tensor } from "../torch/create.ts";
import type { Tensor } from "../torch/tensor.ts";
import { predictLogits } from "../predict/logits.ts";
import {
  type BestCheckpoint,
  loadCheckpoint,
  MANIFEST,
  readManifest,
  removeUnreferenced,
  type RunningSums,
  runWriteFailure,
  saveCheckpoint,
  type Selection,
} from "../run/checkpoint.ts";
import { modelFromManifest } from "../run/run_model.ts";
import { initialSelection, updateSelection } from "./selection.ts";
import {
  loadWeights,
  modelStateDict,
  readWeightsFile,
  spreadOverExperts,
} from "../weights/model_weights.ts";
import type { RawTensor } from "../weights/safetensors.ts";
import { configToYaml, type TrainConfig } from "../config/config.ts";
import { loadConfigDataset, resolveArchitecture } from "../config/dataset.ts";
import { useDevice } from "../torch/device.ts";
import { type EpochMetrics, readMetrics, writeMetrics } from "../run/metrics.ts";
import { writeEventFile } from "../run/tensorboard.ts";
import { SGD } from "./optimizer.ts";
import { RunLock } from "../run/lock.ts";
import { plural } from "../plural.ts";
import { runLogitPrior } from "../eval/logit_prior.ts";
import { formatDuration, Progress } from "./progress.ts";
import { learningRate } from "./schedule.ts";
import { TrainStep } from "./step.ts";
import {
  checkGlobalBatch,
  DataParallel,
  type DistributedOptions,
  rankDevice,
} from "./data_parallel.ts";

/** The resolved configuration's file name inside a run directory. */
export const CONFIG_FILE = "config.yaml";
/** The final result's file name inside a run directory. */
export const RESULT_FILE = "result.json";

/** When train() writes checkpoints inside an epoch (see parseCheckpointEvery). */
export interface CheckpointEvery {
  /** Every this many training steps. */
  steps?: number;
  /** Every this many minutes. */
  minutes?: number;
}

/**
 * `checkpointEvery` from text: a step count (`500`) or minutes (`10m`); an
 * InputError for `checkpointEvery` otherwise.
 */
export function parseCheckpointEvery(text: string): CheckpointEvery {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m|min)?\s*$/.exec(text);
  const value = m ? Number(m[1]) : NaN;
  if (m && m[2] !== undefined && value > 0 && value <= 1e6) return { minutes: value };
  if (m && m[2] === undefined && Number.isInteger(value) && value >= 1 && value <= 2 ** 31 - 1) {
    return { steps: value };
  }
  throw new InputError(
    "checkpointEvery",
    `expected a step count (500) or minutes (10m), got '${text}'`,
  );
}

/** How to run train(). */
export interface TrainOptions {
  /** The run directory (created if needed). */
  runDir: string;
  /** Continue from the run directory's checkpoint. */
  resume?: boolean;
  /** Set `requested` (e.g. on Ctrl-C) to checkpoint after the current step and return. */
  stop?: { requested: boolean };
  /**
   * Also write a checkpoint inside an epoch every `steps` training steps
   * and/or every `minutes` minutes (besides the one at each epoch's end), so
   * that a kill loses at most that much of a long epoch.
   */
  checkpointEvery?: CheckpointEvery;
  /**
   * Called once, when set-up is done (data, model, loss) and right before
   * the run directory is first touched: from here on a stop is answered
   * with a checkpoint (before, there is nothing to save).
   */
  onStart?: () => void;
  /** Called after each training step (0-based epoch and step). */
  onStep?: (epoch: number, step: number) => void;
  /** Where progress lines go, one line a call (default: nowhere; the library never prints). */
  log?: (line: string) => void;
  /** Draw a progress bar on stdout, redrawn in place (default false; for terminals). */
  tty?: boolean;
  /** Receives warnings, such as the images the dataset skipped (default: ignored). */
  onWarning?: (message: string) => void;
  /**
   * Train as one rank of a distributed job (data-parallel; see
   * data_parallel.ts). Every rank calls train() with the same config; the
   * run directory is written by rank 0 only, and a resumed run reads it on
   * every rank.
   */
  distributed?: DistributedOptions;
  /**
   * Return the final model's logits on the whole test split
   * (`TrainResult.test`), for a caller that evaluates them further (the
   * shift grid) without predicting again.
   */
  keepTestLogits?: boolean;
}

/**
 * Top-1 accuracy (percent) on the uniform test set: overall, and the mean
 * per-class accuracy of each shot group (null when the group has no class).
 */
export interface TestAccuracy {
  /** Over all test samples. */
  top1: number;
  /** Mean per-class accuracy of the many-shot classes. */
  many: number | null;
  /** Mean per-class accuracy of the medium-shot classes. */
  medium: number | null;
  /** Mean per-class accuracy of the few-shot classes. */
  few: number | null;
}

/** What train() ends with. */
export interface TrainResult {
  runDir: string;
  /** True when stopped early by `stop`; a checkpoint was written. */
  interrupted: boolean;
  /** Where the run stands: next epoch and step. */
  epoch: number;
  step: number;
  /** Metrics of every finished epoch. */
  metrics: EpochMetrics[];
  /** Top-1 on the uniform test set after the last epoch (absent when interrupted). */
  final?: TestAccuracy;
  /** Number of model parameters. */
  params: number;
  /** This process's rank and the number of ranks (0 and 1 outside a distributed job). */
  rank: number;
  worldSize: number;
  /**
   * With `keepTestLogits`, after a finished run: logits [N, classes]
   * (float32, CPU; the caller disposes them) of the whole test split in file
   * order, with its labels, the training counts and the class names.
   */
  test?: {
    logits: Tensor;
    labels: Int32Array;
    trainCounts: number[];
    /** The prior the classifier was effectively trained under (lib/eval/logit_prior.ts). */
    logitPrior: number[];
    classNames: string[];
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Accuracy of test-set logits, as the training logs and result.json record
 * it; a multi-expert model's by the plain average of its experts.
 */
function testAccuracy(
  logits: Tensor,
  labels: Int32Array,
  trainCounts: number[],
  experts: number,
): TestAccuracy {
  using mean = expertMean(logits, experts);
  const { top1, many, medium, few } = accuracy(mean, labels, shotGroups(trainCounts));
  return { top1, many, medium, few };
}

const pct = (x: number | null | undefined) =>
  x === undefined || x === null || Number.isNaN(x) ? "  -  " : `${x.toFixed(1)}%`;

/**
 * Takes the run directory's lock (see lib/run/lock.ts); a stale lock taken over
 * is a warning.
 */
function lockRun(opts: TrainOptions): RunLock {
  const lock = RunLock.acquire(opts.runDir);
  const h = lock.tookOverFrom;
  if (h) {
    opts.onWarning?.(
      `took over the lock of ${opts.runDir} from pid ${h.pid} on ${h.host}, which is no longer running`,
    );
  }
  return lock;
}

/**
 * The tensors `--init` names: a weights file, or a run directory (its latest
 * checkpoint: the first stage of a two-stage method such as cRT).
 */
async function initTensors(path: string): Promise<Map<string, RawTensor>> {
  const isDir = await Deno.stat(path).then((s) => s.isDirectory, () => false);
  if (!isDir) return (await readWeightsFile(path)).tensors;
  const m = await readManifest(path);
  if (m === null) {
    throw new InputError("model.init", `${path}: a directory without a run's ${MANIFEST}`);
  }
  using run = modelFromManifest(m);
  await loadCheckpoint(path, run);
  return new Map(modelStateDict(run));
}

/**
 * Loads `config.model.init` into a new model (see lib/weights): strictly
 * unless init_strict is false, when what did not load is reported as a
 * warning.
 */
async function initWeights(model: Model, config: TrainConfig, opts: TrainOptions): Promise<void> {
  const path = config.model.init!;
  const read = await initTensors(path);
  // A single network's weights start every expert of a SADE network built
  // on it (SADE's Places-LT recipe: one ImageNet ResNet-152).
  const tensors = spreadOverExperts(model, read) ?? read;
  const report = loadWeights(model, tensors, {
    source: path,
    skipHead: config.model.init_skip === "head",
    strict: config.model.init_strict,
    configHints: true,
  });
  const list = (names: string[]) =>
    names.slice(0, 5).join(", ") + (names.length > 5 ? ` and ${names.length - 5} more` : "");
  if (report.missing.length > 0) {
    opts.onWarning?.(
      `\`model.init\` ${path}: not in the file (left as initialised): ${list(report.missing)}`,
    );
  }
  if (report.unexpected.length > 0) {
    opts.onWarning?.(
      `\`model.init\` ${path}: not in the model (ignored): ${list(report.unexpected)}`,
    );
  }
  if (report.mismatched.length > 0) {
    opts.onWarning?.(
      `\`model.init\` ${path}: other shapes (left as initialised): ${
        list(report.mismatched.map((m) => m.name))
      }`,
    );
  }
}

/**
 * The resolved configuration a run starts with, in a few lines: the data
 * (images per class, imbalance), the network and method, the optimisation,
 * and where it runs.
 */
function startLines(c: EpochsContext, arch: string, batches: number): string[] {
  const { data, config, model, device, dp } = c;
  const n = (x: number) => x.toLocaleString("en-US");
  const counts = data.trainCounts;
  const m = config.method;
  const hyper = [
    m.alpha !== undefined ? `alpha ${m.alpha}` : "",
    m.lambda !== undefined ? `lambda ${m.lambda}` : "",
    m.tau !== undefined ? `tau ${m.tau}` : "",
  ].filter((x) => x !== "" && METHOD_HYPERS[m.name]?.includes(x.split(" ")[0]));
  const t = config.train;
  const s = t.schedule;
  const lines = [
    `dataset   ${data.name}: ${n(data.train.size)} training images in ${data.classes} classes, ` +
    (Math.min(...counts) === Math.max(...counts)
      ? `${n(counts[0])} a class `
      : `${n(Math.min(...counts))} to ${n(Math.max(...counts))} a class `) +
    `(imbalance ${data.imbalance.ratio}${
      data.imbalance.ratio > 1 ? `, ${data.imbalance.type}` : ""
    })` +
    (data.val ? `, ${n(data.val.size)} more held out for validation` : "") +
    `; ${n(data.test.size)} test images`,
    `model     ${arch}, ${n(model.numParams)} parameters; method ${m.name}` +
    (hyper.length > 0 ? ` (${hyper.join(", ")})` : "") +
    (config.model.init !== undefined ? `; from ${config.model.init}` : "") +
    (config.model.freeze !== "none" ? `; ${config.model.freeze} frozen` : ""),
    `training  ${plural(t.epochs, "epoch")} of ${plural(batches, "batch", "batches")} of ` +
    `${t.batch_size}, lr ${t.lr}` +
    (t.backbone_lr !== undefined ? ` (backbone ${t.backbone_lr})` : "") +
    ` (${s.type}${s.warmup_epochs > 0 ? `, ${plural(s.warmup_epochs, "epoch")} warm-up` : ""})` +
    `, sampler ${t.sampler}, seed ${config.seed}`,
    `device    ${device}` +
    (device === "cpu" ? "" : ` (${c.precision}${c.cudaGraphs ? ", CUDA graphs" : ""})`) +
    (device === "cpu" ? `, ${plural(c.threads.threads, "thread")} (${c.threads.why})` : "") +
    (dp
      ? `; ${dp.worldSize} ranks (${dp.pg.backend}), ` +
        `${t.batch_size / dp.worldSize} samples of each batch of ${t.batch_size} a rank`
      : ""),
  ];
  return lines;
}

/** The hyper-parameters each method reads (the others in a config are not shown). */
const METHOD_HYPERS: Readonly<Record<string, readonly string[]>> = {
  lade: ["alpha", "lambda"],
  "logit-adjusted": ["tau"],
  sade: ["tau"],
};

/** Trains (or continues) one run as `config` describes. */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  // ---- set up
  const dist = opts.distributed;
  // One writer per run directory: a resumed run's is locked before anything
  // (slow) is loaded; a fresh one's once it exists (runEpochs).
  using _lock = opts.resume && (dist?.env.rank ?? 0) === 0 ? lockRun(opts) : undefined;
  const threads = trainingThreads(config.threads, dist?.env);
  setNumThreads(threads.threads);
  const device = useDevice(dist ? rankDevice(config.device, dist.env) : config.device);
  // A distributed run joins its process group before the (slow) data: a
  // configuration every rank rejects fails on every rank at once.
  if (dist) checkGlobalBatch(config.train.batch_size, dist.env.worldSize);
  using dp = dist ? DataParallel.create(dist, device) : undefined;
  const data = await loadConfigDataset(config, { onWarning: opts.onWarning });
  // A class with no training images has a source prior of 0 (log 0 in the
  // losses): said here, in the data's terms, rather than by the loss.
  const empty = data.trainCounts.indexOf(0);
  if (empty >= 0) {
    data.dispose();
    const r = data.imbalance.ratio;
    const nMax = Math.max(...data.trainCounts);
    throw r > 1
      ? new InputError(
        "dataset.imbalance",
        `${r} leaves class ${empty} with no training images (the rarest classes keep ` +
          `n_max / R of n_max ${nMax}); use at most ${nMax}`,
      )
      : new InputError(`${data.name}: class ${empty} has no training images`);
  }
  // The uniform test set: the same number of test images of every class.
  const uniform = shiftIndices(data.test.labels, data.trainCounts, "uniform");
  const noTest = data.testCounts.indexOf(0);
  if (uniform.length === 0 && noTest >= 0) {
    data.dispose();
    throw new InputError(
      `${data.name}: the test split has no images of class ${noTest} (${
        data.classNames[noTest]
      }); ` +
        "the test sets take the same number of images of every class (uniform) or a share of it",
    );
  }
  const testSet = data.test.subset(uniform);
  try {
    return await trainWith({ data, testSet, uniform, device, threads, config, opts, dp });
  } finally {
    testSet.dispose();
    data.dispose();
  }
}

/** What set-up hands to the training proper. */
interface SetUp {
  data: DataSplits;
  /** The uniform test set, and its positions in the test split. */
  testSet: ImageSet;
  uniform: Int32Array;
  device: Device;
  config: TrainConfig;
  opts: TrainOptions;
  /** This rank's side of a distributed job. */
  dp: DataParallel | undefined;
  /** The CPU threads, why, and the governor that revises a default count. */
  threads: TrainingThreads;
}

async function trainWith(s: SetUp): Promise<TrainResult> {
  const { data, device, config, opts, dp } = s;
  const arch = resolveArchitecture(config, data.train.imageSize);

  manualSeed(config.seed);
  const onCuda = device !== "cpu";
  const precision = resolvePrecision(config, onCuda);
  const cudaGraphs = resolveCudaGraphs(config, onCuda, dp?.worldSize ?? 1, opts.onWarning);
  using model = Model.create({
    arch,
    classes: data.classes,
    inChannels: data.train.channels,
    head: config.model.head,
    scale: config.model.scale,
    device,
  });
  model.precision = precision;
  if (config.model.init !== undefined && !opts.resume) await initWeights(model, config, opts);
  using optimizer = new SGD(model, {
    lr: config.train.lr,
    momentum: config.train.momentum,
    weightDecay: config.train.weight_decay,
    nesterov: config.train.nesterov,
  });
  if (config.model.freeze === "backbone") {
    // Only the head trains: the backbone gets no gradients, no update, and
    // keeps its batch-norm statistics.
    model.freeze("backbone");
    optimizer.setFrozen("backbone");
  }
  const m = config.method;
  using lossFn = createLoss(m.name, {
    trainCounts: data.trainCounts,
    alpha: m.alpha,
    lambda: m.lambda,
    tau: m.tau,
    gamma: m.gamma,
    beta: m.beta,
    maxMargin: m.max_margin,
    scale: m.scale,
    drwEpoch: m.drw_epoch,
    expertLambdas: m.expert_lambdas,
    device,
  });
  using loader = new BatchLoader(data.train, data, {
    batchSize: config.train.batch_size,
    train: true,
    device,
    seed: config.seed,
    sampler: config.train.sampler,
    // A last batch of one sample would break batch norm; the epoch order changes every epoch.
    dropLast: true,
    // Each rank prepares its share of every global batch.
    ...(dp ? { shard: dp.shard() } : {}),
    colorJitter: config.dataset.color_jitter,
  });
  const batches = loader.batchesPerEpoch;
  if (batches === 0) {
    throw new InputError(
      "train.batch_size",
      `${config.train.batch_size} is larger than the training set (${
        plural(data.train.size, "image")
      })`,
    );
  }
  if (onCuda) {
    // A stream of this run's own (CUDA graphs cannot capture the default
    // one), and cuDNN's autotuner, since batch shapes stay fixed.
    useSideStream(device, true);
    setCudnnBenchmark(true);
  }
  try {
    using step = new TrainStep({
      model,
      optimizer,
      loss: lossFn,
      device,
      cudaGraphs,
      onWarning: opts.onWarning,
      ...(dp ? dp.stepHooks(optimizer) : {}),
    });
    return await runEpochs({
      ...s,
      config: { ...config, model: { ...config.model, arch } },
      model,
      optimizer,
      step,
      loader,
      precision,
      cudaGraphs,
    });
  } finally {
    if (onCuda) useSideStream(device, false);
  }
}

/** The precision a config asks for on this device; bf16 needs CUDA. */
function resolvePrecision(config: TrainConfig, onCuda: boolean): Precision {
  const p = config.train.precision;
  if (p === "auto") return onCuda ? "bf16" : "fp32";
  if (p === "bf16" && !onCuda) {
    throw new InputError("train.precision", "bf16 needs a CUDA device; the CPU trains in fp32");
  }
  return p;
}

/**
 * Whether to replay steps as CUDA graphs. Not with more than one rank: the
 * gather and the all-reduce of a step are not captured in the graph yet, so
 * the steps run eagerly (a warning when "on" asked for graphs).
 */
function resolveCudaGraphs(
  config: TrainConfig,
  onCuda: boolean,
  worldSize: number,
  onWarning?: (message: string) => void,
): boolean {
  const g = config.train.cuda_graphs;
  if (g === "on" && !onCuda) {
    throw new InputError("train.cuda_graphs", "CUDA graphs need a CUDA device");
  }
  if (worldSize > 1) {
    if (g === "on") {
      onWarning?.(
        "CUDA graphs are off with more than one rank (a step's collectives are not captured yet)",
      );
    }
    return false;
  }
  return g === "on" || (g === "auto" && onCuda);
}

/** What the epoch loop works with. */
interface EpochsContext extends SetUp {
  model: Model;
  optimizer: SGD;
  step: TrainStep;
  loader: BatchLoader;
  precision: Precision;
  cudaGraphs: boolean;
}

async function runEpochs(c: EpochsContext): Promise<TrainResult> {
  const { data, testSet, device, config: resolved, opts, model, optimizer, step, loader, dp } = c;
  const config = resolved;
  const log = opts.log ?? (() => {});
  const stop = opts.stop ?? { requested: false };
  const { runDir } = opts;
  const { epochs } = resolved.train;
  const arch = resolved.model.arch;
  const batches = loader.batchesPerEpoch;
  const rank = dp?.rank ?? 0;
  const worldSize = dp?.worldSize ?? 1;
  // Only rank 0 writes the run directory.
  const writer = rank === 0;

  // ---- a fresh run, or the state of the checkpoint
  // A fresh run's directory that this call makes is removed again when the
  // run fails before its first checkpoint: no folder holding only config.yaml.
  const madeDir = writer && !opts.resume && !(await exists(runDir));
  opts.onStart?.();
  if (writer) {
    try {
      await Deno.mkdir(runDir, { recursive: true });
    } catch (e) {
      throw new InputError(
        `cannot make the run folder ${runDir}: ${(e as Error).message.split("\n")[0]}`,
      );
    }
  }
  let checkpointed = opts.resume ?? false;
  using _lock = writer && !opts.resume ? lockRun(opts) : undefined;
  if (writer) await removeStaleTemporaries(runDir);
  let start = { epoch: 0, step: 0 };
  let running: RunningSums = { loss: 0, correct: 0, seen: 0, seconds: 0 };
  let metrics: EpochMetrics[] = [];
  // Model selection on the validation split (the best checkpoint, early stopping).
  const keepBest = resolved.train.keep.includes("best");
  const earlyStop = resolved.train.early_stop;
  const selecting = keepBest || earlyStop !== undefined;
  let selection: Selection = initialSelection();
  let best: BestCheckpoint | undefined;
  if (opts.resume) {
    // Every rank reads the checkpoint (the run directory must be visible to
    // all of them). The global sample order depends on the seed, the epoch
    // and the global batch only, so another world size continues it.
    const manifest = await loadCheckpoint(runDir, model, optimizer, true);
    start = { epoch: manifest.epoch, step: manifest.step };
    if (start.step > batches) {
      // The manifest's schema cannot know the epoch's length. (A checkpoint
      // at step == batches is an epoch whose steps are done and whose
      // evaluation a stop cut short: resuming evaluates it.)
      throw new InputError(
        `${runDir}/checkpoint.json is damaged: step ${start.step} is past the end of an epoch ` +
          `of ${plural(batches, "batch", "batches")}`,
      );
    }
    running = manifest.running;
    selection = manifest.selection ?? selection;
    best = manifest.best;
    // What a killed checkpoint write left in checkpoints/ (the lock is held).
    if (writer) await removeUnreferenced(runDir, manifest);
    metrics = (await readMetrics(runDir)).filter((x) => x.epoch <= manifest.epoch);
    const before = manifest.worldSize ?? 1;
    log(
      `resuming ${runDir} at epoch ${start.epoch + 1}, step ${start.step}` +
        (before !== worldSize ? ` (written by ${before} rank(s), continued by ${worldSize})` : ""),
    );
  } else if (writer) {
    await writeFileAtomic(`${runDir}/${CONFIG_FILE}`, configToYaml(resolved));
  }
  // Every rank starts from rank 0's weights and statistics.
  dp?.broadcastModel(model, "all");
  // What the rules compensate at evaluation: uniform for a class-balanced sampler (cRT).
  const logitPrior = runLogitPrior(resolved, data.trainCounts);
  const checkpointState = (epoch: number, step: number, sums: RunningSums) => ({
    epoch,
    step,
    running: sums,
    trainCounts: data.trainCounts,
    logitPrior,
    config: resolved,
    arch,
    inChannels: data.train.channels,
    classes: data.classes,
    classNames: data.classNames,
    worldSize,
    ...(selecting && { selection }),
    ...(best && { best }),
  });
  for (const line of startLines(c, arch, batches)) log(line);

  // Logits of the test split (sharded over the ranks in a distributed run):
  // the uniform test set's, or with `full` the whole split's.
  // In one process a stop ends an evaluation between batches (StoppedError):
  // a large test set would hold it up for long. Ranks finish theirs (their
  // collectives must match; they agree on stopping at the next step).
  const evalStop = dp ? undefined : stop;
  const predictTest = (full: boolean): Promise<Tensor> => {
    const set = full ? data.test : testSet;
    const o = { device, batchSize: config.train.eval_batch_size, stop: evalStop };
    return dp ? dp.predictLogits(model, set, data, o) : predictLogits(model, set, data, o);
  };
  // The held-out validation split's top-1: what model selection looks at
  // (the best checkpoint, early stopping).
  const evaluateVal = async (): Promise<number | undefined> => {
    if (!data.val) return undefined;
    const o = { device, batchSize: config.train.eval_batch_size, stop: evalStop };
    using v = dp
      ? await dp.predictLogits(model, data.val, data, o)
      : await predictLogits(model, data.val, data, o);
    return testAccuracy(v, data.val.labels, data.trainCounts, model.experts).top1;
  };
  // The uniform accuracy, and with `keepTestLogits` after the last epoch the
  // whole split's logits (whose uniform rows give the same accuracy).
  let kept: Tensor | undefined;
  const evaluateTest = async (keep: boolean): Promise<TestAccuracy> => {
    if (!keep) {
      using logits = await predictTest(false);
      return testAccuracy(logits, testSet.labels, data.trainCounts, model.experts);
    }
    kept?.dispose();
    kept = await predictTest(true);
    using rows = tensor(c.uniform, [c.uniform.length], "int64");
    using logits = kept.indexSelect(0, rows);
    return testAccuracy(logits, testSet.labels, data.trainCounts, model.experts);
  };
  const keepLogits = opts.keepTestLogits ?? false;
  // Checkpoints inside epochs (`checkpointEvery`): steps and time since the last one.
  const saveEvery = opts.checkpointEvery ?? {};
  let stepsSinceSave = 0;
  let lastSave = performance.now();

  try {
    let final: TestAccuracy | undefined;
    if (selection.stopped) {
      log(
        `the run stopped early after epoch ${start.epoch} (early stopping); nothing left to train`,
      );
    }
    for (let epoch = start.epoch; epoch < epochs && !selection.stopped; epoch++) {
      // ---- one epoch
      const lr = learningRate(config.train.schedule, config.train.lr, epoch, epochs);
      optimizer.lr = lr;
      if (config.train.backbone_lr !== undefined) {
        // The backbone's own rate, on the same schedule.
        optimizer.setGroupLr(
          "backbone",
          learningRate(config.train.schedule, config.train.backbone_lr, epoch, epochs),
        );
      }
      model.train();
      const skip = epoch === start.epoch ? start.step : 0;
      if (skip === 0) running = { loss: 0, correct: 0, seen: 0, seconds: 0 };
      // The step sums loss and accuracy on the device; they are read (which
      // waits for the device) about once a second and at the end of the epoch.
      step.sums.set(running);
      const progress = new Progress(
        `epoch ${epoch + 1}/${epochs}`,
        batches,
        opts.tty ?? false,
        log,
      );
      const ctx = { epoch, epochs };
      const begun = performance.now();
      const before = { seen: running.seen, seconds: running.seconds };
      let lastRead = begun;
      const readSums = (stepsDone: number): void => {
        const sums = step.sums.read();
        const now = performance.now();
        if (sums.nonFinite > 0) {
          throw new LadeError(
            `training diverged: the loss became NaN or infinite in epoch ${epoch + 1} ` +
              `(by step ${stepsDone} of ${batches}); ` +
              (checkpointed
                ? "the last checkpoint is intact (nothing of the diverged steps was saved)"
                : "nothing was saved"),
          );
        }
        running.loss = sums.loss;
        running.correct = sums.correct;
        running.seconds = before.seconds + (now - begun) / 1000;
        lastRead = now;
        progress.update(
          stepsDone,
          running.loss / running.seen,
          (running.seen - before.seen) / ((now - begun) / 1000),
          (now - begun) / 1000 / Math.max(1, stepsDone - skip),
        );
      };
      // With several ranks, the sums are read and a stop is settled at steps
      // every rank agrees on (about once a second, at least 8 times an epoch,
      // and at its end): every rank stops after the same step.
      let nextAgreement = skip + 1;
      let stopAgreed = false;
      const agree = (stepsDone: number): void => {
        readSums(stepsDone);
        const perStep = (performance.now() - begun) / Math.max(1, stepsDone - skip);
        const proposal = Math.min(
          Math.ceil(batches / 8),
          Math.max(1, Math.round(1000 / Math.max(perStep, 0.01))),
        );
        const a = dp!.agree(stop.requested, proposal);
        stopAgreed = a.stop;
        nextAgreement = stepsDone + a.every;
      };
      // Samples a step adds: the global batch (every rank's loss sees all of it).
      const globalBatch = config.train.batch_size;
      // Thread counts the default's governor changed in this epoch (said on the epoch's line).
      const threadChanges: string[] = [];
      // Mixup / CutMix: drawn per (seed, epoch, step), so a resumed epoch mixes alike.
      const mixOptions = { mixup: config.train.mixup, cutmix: config.train.cutmix };
      const mixing = mixes(mixOptions);
      // Random rotation (SADE's CIFAR loader): angles per global position,
      // this rank's share of them; the corners black (0 before normalising).
      const rotation = config.dataset.rotation ?? 0;
      const share = dp ? dp.shard()(globalBatch) : { start: 0, length: globalBatch };
      const black = data.mean.map((m, c) => -m / data.std[c]);
      let done = 0;
      // (An epoch whose steps were all done before a stop goes straight to its end.)
      if (skip === batches) done = batches;
      for await (const batch of skip === batches ? [] : loader.epoch(epoch)) {
        // A resumed epoch replays the same batches; those already done are skipped.
        if (done < skip) {
          batch.dispose();
          done++;
          continue;
        }
        // The batch as the step sees it: rotated (a new tensor) or the loader's.
        let images = batch.images;
        try {
          if (rotation > 0) {
            const at = { seed: config.seed, epoch, step: done };
            const angles = rotationAngles(rotation, at, globalBatch, share.start, share.length);
            images = rotateImages(batch.images, angles, black);
          }
          if (mixing) {
            const mixed = mixBatch(images, batch.labels, mixOptions, {
              seed: config.seed,
              epoch,
              step: done,
            })!;
            try {
              using lambda = full([], mixed.lambda, { dtype: "float32", device });
              step.run(mixed.images, batch.labels, ctx, { labelsB: mixed.labelsB, lambda });
            } finally {
              mixed.images.dispose();
              mixed.labelsB.dispose();
            }
          } else {
            step.run(images, batch.labels, ctx);
          }
        } finally {
          if (images !== batch.images) images.dispose();
        }
        const revised = c.threads.governor?.revise();
        if (revised) {
          threadChanges.push(`threads ${c.threads.threads} -> ${revised.threads} (${revised.why})`);
          c.threads.threads = revised.threads;
          setNumThreads(revised.threads);
        }
        running.seen += dp ? globalBatch : batch.labels.shape[0];
        batch.dispose();
        done++;
        stepsSinceSave++;
        let agreed = false;
        if (dp) {
          if (done === nextAgreement || done === batches) agree(done), agreed = true;
        } else if (done === batches || performance.now() - lastRead >= 1000) {
          readSums(done);
        }
        // A periodic checkpoint inside the epoch (the epoch's end writes its own).
        // With several ranks, only where the sums were just read and agreed on.
        const due = (saveEvery.steps !== undefined && stepsSinceSave >= saveEvery.steps) ||
          (saveEvery.minutes !== undefined &&
            performance.now() - lastSave >= saveEvery.minutes * 60_000);
        if (due && done < batches && (!dp || agreed) && !(dp ? stopAgreed : stop.requested)) {
          if (!dp) readSums(done); // also checks the loss is finite before it is saved
          if (writer) {
            await saveCheckpoint(runDir, model, optimizer, checkpointState(epoch, done, running));
            checkpointed = true;
          }
          stepsSinceSave = 0;
          lastSave = performance.now();
        }
        opts.onStep?.(epoch, done - 1);
        const stopNow = dp ? stopAgreed : stop.requested;
        if (stopNow && done < batches) {
          if (!dp) readSums(done);
          if (writer) {
            await saveCheckpoint(runDir, model, optimizer, checkpointState(epoch, done, running));
            checkpointed = true;
          }
          progress.done(
            `interrupted in epoch ${epoch + 1} after step ${done}; checkpoint written`,
          );
          return result(true, epoch, done);
        }
      }

      // ---- end of epoch: evaluate, record, checkpoint
      const last = epoch === epochs - 1;
      const every = config.train.eval_every;
      let test: TestAccuracy | undefined;
      let valTop1: number | undefined;
      // Stopped during the evaluation: the epoch is recorded and checkpointed without it.
      let evalStopped = false;
      try {
        if (last || (every > 0 && (epoch + 1) % every === 0)) {
          test = await evaluateTest(last && keepLogits);
          valTop1 = await evaluateVal();
        } else if (selecting) {
          valTop1 = await evaluateVal();
        }
      } catch (e) {
        if (!(e instanceof StoppedError)) throw e;
        evalStopped = true;
      }
      if (evalStopped) {
        // A stop during the epoch's evaluation (one process only): the
        // checkpoint is the epoch's steps done; a resumed run evaluates the
        // epoch and records it as this run would have.
        if (writer) {
          await saveCheckpoint(runDir, model, optimizer, checkpointState(epoch, batches, running));
          checkpointed = true;
        }
        progress.done(
          `interrupted in epoch ${epoch + 1} after its last step, during its evaluation; ` +
            "checkpoint written",
        );
        return result(true, epoch, batches);
      }
      // The best epoch and early stopping, decided alike on every rank (the
      // validation logits are gathered on all of them).
      let newBest = false;
      let stopEarly = false;
      if (selecting && valTop1 !== undefined) {
        const decided = updateSelection(selection, valTop1, epoch + 1, earlyStop);
        selection = decided.next;
        newBest = decided.best;
        stopEarly = decided.stop;
      }
      const record: EpochMetrics = {
        epoch: epoch + 1,
        loss: running.loss / running.seen,
        lr,
        train_acc: (100 * running.correct) / running.seen,
        images_per_sec: running.seen / running.seconds,
        seconds: running.seconds,
        ...(test && {
          test_top1: test.top1,
          test_many: test.many,
          test_medium: test.medium,
          test_few: test.few,
        }),
        ...(valTop1 !== undefined && { val_top1: valTop1 }),
        time: new Date().toISOString(),
      };
      metrics.push(record);
      if (writer) {
        try {
          await writeMetrics(runDir, metrics);
          if (config.logs.tensorboard) await writeEventFile(runDir, metrics);
        } catch (e) {
          // Atomic: the previous metrics stay, and so does the checkpoint.
          throw await runWriteFailure(runDir, `the metrics of epoch ${epoch + 1}`, e);
        }
        const saved = await saveCheckpoint(
          runDir,
          model,
          optimizer,
          checkpointState(epoch + 1, 0, { loss: 0, correct: 0, seen: 0, seconds: 0 }),
          keepBest && newBest ? { markBest: { valTop1: valTop1! } } : {},
        );
        best = saved.best;
        checkpointed = true;
      }
      stepsSinceSave = 0;
      lastSave = performance.now();
      progress.done(
        `epoch ${epoch + 1}/${epochs}  loss ${record.loss.toFixed(4)}  lr ${lr.toPrecision(3)}  ` +
          `train ${pct(record.train_acc)}  test ${pct(test?.top1)}  ` +
          `${record.images_per_sec.toFixed(0)} img/s  ${formatDuration(record.seconds)}` +
          (valTop1 === undefined ? "" : `  val ${pct(valTop1)}${newBest ? " (best)" : ""}`) +
          threadChanges.map((t) => `  ${t}`).join(""),
      );
      if (last) final = test;
      if (stopEarly) {
        log(
          `early stopping: validation top-1 has not improved by more than ` +
            `${earlyStop!.min_delta} for ${earlyStop!.patience} epoch(s); the best was ` +
            `${pct(selection.best)} after epoch ${selection.bestEpoch}`,
        );
        break;
      }
      if ((dp ? stopAgreed : stop.requested) && !last) {
        log(`interrupted after epoch ${epoch + 1}; checkpoint written`);
        return result(true, epoch + 1, 0);
      }
    }

    // A run resumed after its last epoch evaluates again rather than reporting nothing.
    if (final === undefined) final = await evaluateTest(keepLogits);
    if (writer) {
      const selected = {
        ...(keepBest && best && { best: { epoch: best.epoch, val_top1: best.valTop1 } }),
        ...(selection.stopped && {
          early_stop: {
            epoch: metrics.at(-1)?.epoch ?? start.epoch,
            best_epoch: selection.bestEpoch,
            best_val_top1: selection.best,
          },
        }),
      };
      await writeFileAtomic(
        `${runDir}/${RESULT_FILE}`,
        JSON.stringify(
          { uniform: final, test_images: testSet.size, epochs, ...selected },
          null,
          1,
        ) +
          "\n",
      ).catch(async (e) => {
        throw await runWriteFailure(runDir, `the result (${RESULT_FILE})`, e);
      });
    }
    const out = result(false, epochs, 0, final);
    if (kept !== undefined) {
      out.test = {
        logits: kept,
        labels: data.test.labels.slice(),
        trainCounts: [...data.trainCounts],
        logitPrior,
        classNames: [...data.classNames],
      };
    }
    kept = undefined;
    return out;
  } catch (e) {
    if (madeDir && !checkpointed) await Deno.remove(runDir, { recursive: true }).catch(() => {});
    throw e;
  } finally {
    kept?.dispose();
  }

  function result(
    interrupted: boolean,
    epoch: number,
    stepDone: number,
    final?: TestAccuracy,
  ): TrainResult {
    return {
      runDir,
      interrupted,
      epoch,
      step: stepDone,
      metrics,
      ...(final ? { final } : {}),
      params: model.numParams,
      rank,
      worldSize,
    };
  }
}
