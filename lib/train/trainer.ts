/**
 * The training loop. Read it top to bottom: set up (threads, device, data,
 * model, optimiser, loss, loader), optionally restore a checkpoint, then for
 * each epoch set the learning rate, run the batches (forward, loss, backward,
 * step, each inside scope() so no tensor handle outlives its step), evaluate,
 * write metrics and a checkpoint.
 *
 * @module
 */

import { InputError, LadeError, TorchError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import {
  BatchLoader,
  type DataSplits,
  type ImageSet,
  loadDataset,
  type LoadOptions,
  shiftIndices,
  shotGroups,
} from "../data/mod.ts";
import { accuracy } from "../eval/metrics.ts";
import { createLoss } from "../losses/mod.ts";
import { type Architecture, defaultArchitecture, Model, type Precision } from "../models/mod.ts";
import { setCudnnBenchmark, useSideStream } from "../torch/cuda.ts";
import { checkDevice, type Device, manualSeed, setNumThreads } from "../torch/device.ts";
import type { Tensor } from "../torch/tensor.ts";
import { predictLogits } from "./predict_logits.ts";
import { loadCheckpoint, type RunningSums, saveCheckpoint } from "./checkpoint.ts";
import { configToYaml, type TrainConfig } from "./config.ts";
import { type EpochMetrics, readMetrics, writeMetrics } from "./metrics.ts";
import { SGD } from "./optimizer.ts";
import { formatDuration, Progress } from "./progress.ts";
import { learningRate } from "./schedule.ts";
import { TrainStep } from "./step.ts";

/** The resolved configuration's file name inside a run directory. */
export const CONFIG_FILE = "config.yaml";
/** The final result's file name inside a run directory. */
export const RESULT_FILE = "result.json";

/** How to run train(). */
export interface TrainOptions {
  /** The run directory (created if needed). */
  runDir: string;
  /** Continue from the run directory's checkpoint. */
  resume?: boolean;
  /** Set `requested` (e.g. on Ctrl-C) to checkpoint after the current step and return. */
  stop?: { requested: boolean };
  /** Called after each training step (0-based epoch and step). */
  onStep?: (epoch: number, step: number) => void;
  /** Where progress lines go, one line a call (default: nowhere; the library never prints). */
  log?: (line: string) => void;
  /** Draw a progress bar on stdout, redrawn in place (default false; for terminals). */
  tty?: boolean;
  /** Receives warnings, such as the images the dataset skipped (default: ignored). */
  onWarning?: (message: string) => void;
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
}

/** The architecture a config asks for, resolved against the data. */
export function resolveArchitecture(config: TrainConfig, imageSize: number): Architecture {
  return config.model.arch === "auto" ? defaultArchitecture(imageSize) : config.model.arch;
}

/** The configuration key of each of loadDataset's options (for messages). */
const DATASET_KEYS: Readonly<Record<string, string>> = {
  dataset: "dataset.name",
  root: "dataset.root",
  imbalance: "dataset.imbalance",
  imbalanceType: "dataset.imbalance_type",
  seed: "seed",
  imageSize: "dataset.image_size",
  trainList: "dataset.train_list",
  testList: "dataset.test_list",
  imageRoot: "dataset.image_root",
  skipBadImages: "dataset.skip_bad_images",
  mean: "dataset.mean",
  std: "dataset.std",
  valPerClass: "dataset.val_per_class",
  valList: "dataset.val_list",
};

/**
 * Loads the dataset a config names. Bad input is an InputError for the
 * configuration key (`dataset.root`), not loadDataset's option (`root`).
 */
export async function loadConfigDataset(
  config: TrainConfig,
  options: Pick<LoadOptions, "onWarning"> = {},
): Promise<DataSplits> {
  try {
    return await loadDataset(datasetOptions(config, options));
  } catch (e) {
    throw e instanceof InputError ? inConfigTerms(e) : e;
  }
}

/** `e` with loadDataset's option names (leading, or in backticks) said as configuration keys. */
function inConfigTerms(e: InputError): InputError {
  const key = (name: string) => Object.hasOwn(DATASET_KEYS, name) ? DATASET_KEYS[name] : undefined;
  const p = e.parameter;
  const text = p === undefined ? e.message : e.message.slice(p.length + 2);
  const renamed = text.replace(/`(\w+)`/g, (whole, name: string) => {
    const k = key(name);
    return k === undefined ? whole : `\`${k}\``;
  });
  const parameter = p === undefined ? undefined : key(p) ?? p;
  if (parameter === p && renamed === text) return e;
  return parameter === undefined
    ? new InputError(renamed, undefined, { cause: e })
    : new InputError(parameter, renamed, { cause: e });
}

function datasetOptions(config: TrainConfig, options: Pick<LoadOptions, "onWarning">): LoadOptions {
  const d = config.dataset;
  return {
    ...options,
    dataset: d.name,
    root: d.root,
    imbalance: d.imbalance,
    imbalanceType: d.imbalance_type,
    seed: config.seed,
    imageSize: d.image_size,
    trainList: d.train_list,
    testList: d.test_list,
    imageRoot: d.image_root,
    skipBadImages: d.skip_bad_images,
    mean: d.mean,
    std: d.std,
    valPerClass: d.val_per_class,
    valList: d.val_list,
  };
}

/** Checks a device name: a device this machine lacks (no CUDA, no such GPU) is an InputError for `device`. */
export function useDevice(name: string): Device {
  try {
    return checkDevice(name);
  } catch (e) {
    if (!(e instanceof TorchError)) throw e;
    const why = e.nativeMessage ?? e.message.replace(/^device \S+: /, "");
    throw new InputError("device", `cannot use ${name}: ${why}`, { cause: e });
  }
}

/** Accuracy of test-set logits, as the training logs and result.json record it. */
function testAccuracy(logits: Tensor, labels: Int32Array, trainCounts: number[]): TestAccuracy {
  const { top1, many, medium, few } = accuracy(logits, labels, shotGroups(trainCounts));
  return { top1, many, medium, few };
}

const pct = (x: number | null | undefined) =>
  x === undefined || x === null || Number.isNaN(x) ? "  -  " : `${x.toFixed(1)}%`;

/** Trains (or continues) one run as `config` describes. */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  // ---- set up
  setNumThreads(config.threads > 0 ? config.threads : navigator.hardwareConcurrency);
  const device = useDevice(config.device);
  const data = await loadConfigDataset(config, { onWarning: opts.onWarning });
  // The uniform test set: the same number of test images of every class.
  const testSet = data.test.subset(shiftIndices(data.test.labels, data.trainCounts, "uniform"));
  try {
    return await trainWith(data, testSet, device, config, opts);
  } finally {
    testSet.dispose();
    data.dispose();
  }
}

async function trainWith(
  data: DataSplits,
  testSet: ImageSet,
  device: Device,
  config: TrainConfig,
  opts: TrainOptions,
): Promise<TrainResult> {
  const arch = resolveArchitecture(config, data.train.imageSize);

  manualSeed(config.seed);
  const onCuda = device !== "cpu";
  const precision = resolvePrecision(config, onCuda);
  const cudaGraphs = resolveCudaGraphs(config, onCuda);
  using model = Model.create({
    arch,
    classes: data.classes,
    inChannels: data.train.channels,
    head: config.model.head,
    scale: config.model.scale,
    device,
  });
  model.precision = precision;
  using optimizer = new SGD(model, {
    lr: config.train.lr,
    momentum: config.train.momentum,
    weightDecay: config.train.weight_decay,
    nesterov: config.train.nesterov,
  });
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
    colorJitter: config.dataset.color_jitter,
  });
  const batches = loader.batchesPerEpoch;
  if (batches === 0) {
    throw new InputError(
      "train.batch_size",
      `${config.train.batch_size} is larger than the training set (${data.train.size} images)`,
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
    });
    return await runEpochs({
      data,
      testSet,
      device,
      config: { ...config, model: { ...config.model, arch } },
      opts,
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

/** Whether to replay steps as CUDA graphs. */
function resolveCudaGraphs(config: TrainConfig, onCuda: boolean): boolean {
  const g = config.train.cuda_graphs;
  if (g === "on" && !onCuda) {
    throw new InputError("train.cuda_graphs", "CUDA graphs need a CUDA device");
  }
  return g === "on" || (g === "auto" && onCuda);
}

/** What the epoch loop works with. */
interface EpochsContext {
  data: DataSplits;
  testSet: ImageSet;
  device: Device;
  config: TrainConfig;
  opts: TrainOptions;
  model: Model;
  optimizer: SGD;
  step: TrainStep;
  loader: BatchLoader;
  precision: Precision;
  cudaGraphs: boolean;
}

async function runEpochs(c: EpochsContext): Promise<TrainResult> {
  const { data, testSet, device, config: resolved, opts, model, optimizer, step, loader } = c;
  const config = resolved;
  const log = opts.log ?? (() => {});
  const stop = opts.stop ?? { requested: false };
  const { runDir } = opts;
  const { epochs } = resolved.train;
  const arch = resolved.model.arch;
  const m = resolved.method;
  const batches = loader.batchesPerEpoch;

  // ---- a fresh run, or the state of the checkpoint
  await Deno.mkdir(runDir, { recursive: true });
  let start = { epoch: 0, step: 0 };
  let running: RunningSums = { loss: 0, correct: 0, seen: 0, seconds: 0 };
  let metrics: EpochMetrics[] = [];
  if (opts.resume) {
    const manifest = await loadCheckpoint(runDir, model, optimizer, true);
    start = { epoch: manifest.epoch, step: manifest.step };
    running = manifest.running;
    metrics = (await readMetrics(runDir)).filter((x) => x.epoch <= manifest.epoch);
    log(`resuming ${runDir} at epoch ${start.epoch + 1}, step ${start.step}`);
  } else {
    await writeFileAtomic(`${runDir}/${CONFIG_FILE}`, configToYaml(resolved));
  }
  const checkpointState = (epoch: number, step: number, sums: RunningSums) => ({
    epoch,
    step,
    running: sums,
    trainCounts: data.trainCounts,
    config: resolved,
    arch,
    inChannels: data.train.channels,
    classes: data.classes,
    classNames: data.classNames,
  });
  log(
    `${data.name}: ${data.train.size} training images` +
      (data.val ? ` (${data.val.size} more held out for validation)` : "") +
      `, ${data.classes} classes; ${arch} ` +
      `(${model.numParams.toLocaleString("en-US")} parameters) on ${device}` +
      (device === "cpu" ? "" : ` (${c.precision}${c.cudaGraphs ? ", CUDA graphs" : ""})`) +
      `; ${m.name}; ${epochs} epochs of ${batches} batches`,
  );

  let final: TestAccuracy | undefined;
  for (let epoch = start.epoch; epoch < epochs; epoch++) {
    // ---- one epoch
    const lr = learningRate(config.train.schedule, config.train.lr, epoch, epochs);
    optimizer.lr = lr;
    model.train();
    const skip = epoch === start.epoch ? start.step : 0;
    if (skip === 0) running = { loss: 0, correct: 0, seen: 0, seconds: 0 };
    // The step sums loss and accuracy on the device; they are read (which
    // waits for the device) about once a second and at the end of the epoch.
    step.sums.set(running);
    const progress = new Progress(`epoch ${epoch + 1}/${epochs}`, batches, opts.tty ?? false, log);
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
            `(by step ${stepsDone} of ${batches}); the last checkpoint is intact`,
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
    let done = 0;
    for await (const batch of loader.epoch(epoch)) {
      // A resumed epoch replays the same batches; those already done are skipped.
      if (done < skip) {
        batch.dispose();
        done++;
        continue;
      }
      step.run(batch.images, batch.labels, ctx);
      running.seen += batch.labels.shape[0];
      batch.dispose();
      done++;
      if (done === batches || performance.now() - lastRead >= 1000) readSums(done);
      opts.onStep?.(epoch, done - 1);
      if (stop.requested && done < batches) {
        readSums(done);
        await saveCheckpoint(runDir, model, optimizer, checkpointState(epoch, done, running));
        progress.done(`interrupted in epoch ${epoch + 1} after step ${done}; checkpoint written`);
        return { runDir, interrupted: true, epoch, step: done, metrics, params: model.numParams };
      }
    }

    // ---- end of epoch: evaluate, record, checkpoint
    const last = epoch === epochs - 1;
    const every = config.train.eval_every;
    let test: TestAccuracy | undefined;
    let valTop1: number | undefined;
    if (last || (every > 0 && (epoch + 1) % every === 0)) {
      using logits = await predictLogits(model, testSet, data, {
        device,
        batchSize: config.train.eval_batch_size,
      });
      test = testAccuracy(logits, testSet.labels, data.trainCounts);
      if (data.val) {
        // The held-out split: what model selection would look at (lade keeps the last epoch).
        using v = await predictLogits(model, data.val, data, {
          device,
          batchSize: config.train.eval_batch_size,
        });
        valTop1 = testAccuracy(v, data.val.labels, data.trainCounts).top1;
      }
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
    await writeMetrics(runDir, metrics);
    await saveCheckpoint(
      runDir,
      model,
      optimizer,
      checkpointState(epoch + 1, 0, { loss: 0, correct: 0, seen: 0, seconds: 0 }),
    );
    progress.done(
      `epoch ${epoch + 1}/${epochs}  loss ${record.loss.toFixed(4)}  lr ${lr.toPrecision(3)}  ` +
        `train ${pct(record.train_acc)}  test ${pct(test?.top1)}  ` +
        `${record.images_per_sec.toFixed(0)} img/s  ${formatDuration(record.seconds)}`,
    );
    if (last) final = test;
    if (stop.requested && !last) {
      log(`interrupted after epoch ${epoch + 1}; checkpoint written`);
      return {
        runDir,
        interrupted: true,
        epoch: epoch + 1,
        step: 0,
        metrics,
        params: model.numParams,
      };
    }
  }

  // A run resumed after its last epoch evaluates again rather than reporting nothing.
  if (final === undefined) {
    using logits = await predictLogits(model, testSet, data, {
      device,
      batchSize: config.train.eval_batch_size,
    });
    final = testAccuracy(logits, testSet.labels, data.trainCounts);
  }
  await writeFileAtomic(
    `${runDir}/${RESULT_FILE}`,
    JSON.stringify({ uniform: final, test_images: testSet.size, epochs }, null, 1) + "\n",
  );
  return {
    runDir,
    interrupted: false,
    epoch: epochs,
    step: 0,
    metrics,
    final,
    params: model.numParams,
  };
}
