/**
 * The training loop. Read it top to bottom: set up (threads, device, data,
 * model, optimiser, loss, loader), optionally restore a checkpoint, then for
 * each epoch set the learning rate, run the batches (forward, loss, backward,
 * step, each inside scope() so no tensor handle outlives its step), evaluate,
 * write metrics and a checkpoint.
 *
 * @module
 */

import { UsageError } from "../cli/errors.ts";
import {
  BatchLoader,
  type DataSplits,
  type ImageSet,
  loadDataset,
  shiftIndices,
} from "../data/mod.ts";
import { createLoss } from "../losses/mod.ts";
import { type Architecture, defaultArchitecture, Model } from "../models/model.ts";
import { checkDevice, type Device, manualSeed, setNumThreads } from "../torch/device.ts";
import { scope } from "../torch/memory.ts";
import { type Accuracy, accuracy, predictLogits } from "./accuracy.ts";
import { loadCheckpoint, type RunningSums, saveCheckpoint, writeFileAtomic } from "./checkpoint.ts";
import { configToYaml, type TrainConfig } from "./config.ts";
import { type EpochMetrics, readMetrics, writeMetrics } from "./metrics.ts";
import { SGD } from "./optimizer.ts";
import { formatDuration, Progress } from "./progress.ts";
import { learningRate } from "./schedule.ts";

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
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
  /** Draw a progress bar (default: stdout is a terminal). */
  tty?: boolean;
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
  final?: Accuracy;
  /** Number of model parameters. */
  params: number;
}

/** The architecture a config asks for, resolved against the data. */
export function resolveArchitecture(config: TrainConfig, imageSize: number): Architecture {
  return config.model.arch === "auto" ? defaultArchitecture(imageSize) : config.model.arch;
}

/** Loads the dataset a config names. */
export function loadConfigDataset(config: TrainConfig): Promise<DataSplits> {
  const d = config.dataset;
  return loadDataset({
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
  });
}

/** Checks a device name, turning "no such device" into a one-line usage error. */
export function useDevice(name: string): Device {
  try {
    return checkDevice(name);
  } catch (e) {
    throw new UsageError(
      `--device ${name}: ${(e as Error).message.replace(/^device \S+: /, "")}`,
    );
  }
}

const pct = (x: number | undefined) =>
  x === undefined || Number.isNaN(x) ? "  -  " : `${x.toFixed(1)}%`;

/** Trains (or continues) one run as `config` describes. */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  // ---- set up
  setNumThreads(config.threads > 0 ? config.threads : navigator.hardwareConcurrency);
  const device = useDevice(config.device);
  const data = await loadConfigDataset(config);
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
  const log = opts.log ?? ((line: string) => console.log(line));
  const stop = opts.stop ?? { requested: false };
  const { runDir } = opts;
  const { epochs } = config.train;
  const arch = resolveArchitecture(config, data.train.imageSize);
  const resolved: TrainConfig = { ...config, model: { ...config.model, arch } };

  manualSeed(config.seed);
  using model = Model.create({
    arch,
    classes: data.classes,
    inChannels: data.train.channels,
    head: config.model.head,
    scale: config.model.scale,
    device,
  });
  using optimizer = new SGD(model, {
    lr: config.train.lr,
    momentum: config.train.momentum,
    weightDecay: config.train.weight_decay,
    nesterov: config.train.nesterov,
  });
  const m = config.method;
  const lossFn = createLoss(m.name, {
    trainCounts: data.trainCounts,
    alpha: m.alpha,
    lambda: m.lambda,
    tau: m.tau,
    gamma: m.gamma,
    beta: m.beta,
    maxMargin: m.max_margin,
    scale: m.scale,
    drwEpoch: m.drw_epoch,
  });
  using loader = new BatchLoader(data.train, data, {
    batchSize: config.train.batch_size,
    train: true,
    device,
    seed: config.seed,
    sampler: config.train.sampler,
    // A last batch of one sample would break batch norm; the epoch order changes every epoch.
    dropLast: true,
  });
  const batches = loader.batchesPerEpoch;
  if (batches === 0) {
    throw new UsageError(
      `--batch-size ${config.train.batch_size} is larger than the training set ` +
        `(${data.train.size} images)`,
    );
  }

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
    `${data.name}: ${data.train.size} training images, ${data.classes} classes; ${arch} ` +
      `(${model.numParams.toLocaleString("en-US")} parameters) on ${device}; ${m.name}; ` +
      `${epochs} epochs of ${batches} batches`,
  );

  let final: Accuracy | undefined;
  for (let epoch = start.epoch; epoch < epochs; epoch++) {
    // ---- one epoch
    const lr = learningRate(config.train.schedule, config.train.lr, epoch, epochs);
    optimizer.lr = lr;
    model.train();
    const skip = epoch === start.epoch ? start.step : 0;
    if (skip === 0) running = { loss: 0, correct: 0, seen: 0, seconds: 0 };
    const progress = new Progress(`epoch ${epoch + 1}/${epochs}`, batches, opts.tty, log);
    let step = 0;
    for await (const batch of loader.epoch(epoch)) {
      // A resumed epoch replays the same batches; those already done are skipped.
      if (step < skip) {
        batch.dispose();
        step++;
        continue;
      }
      const t0 = performance.now();
      const [loss, correct] = scope(() => {
        optimizer.zeroGrad();
        const logits = model.forward(batch.images);
        const loss = lossFn(logits, batch.labels, { epoch, epochs });
        loss.backward();
        optimizer.step();
        return [loss.item(), logits.argmax(1).eq(batch.labels).sum().item()];
      });
      const n = batch.labels.shape[0];
      batch.dispose();
      running.seconds += (performance.now() - t0) / 1000;
      running.loss += loss * n;
      running.correct += correct;
      running.seen += n;
      step++;
      progress.update(
        step,
        running.loss / running.seen,
        running.seen / running.seconds,
        running.seconds / (step - skip),
      );
      opts.onStep?.(epoch, step - 1);
      if (stop.requested && step < batches) {
        await saveCheckpoint(runDir, model, optimizer, checkpointState(epoch, step, running));
        progress.done(`interrupted in epoch ${epoch + 1} after step ${step}; checkpoint written`);
        return { runDir, interrupted: true, epoch, step, metrics, params: model.numParams };
      }
    }

    // ---- end of epoch: evaluate, record, checkpoint
    const last = epoch === epochs - 1;
    const every = config.train.eval_every;
    let test: Accuracy | undefined;
    if (last || (every > 0 && (epoch + 1) % every === 0)) {
      using logits = await predictLogits(model, testSet, data, {
        device,
        batchSize: config.train.eval_batch_size,
      });
      test = accuracy(logits, testSet.labels, data.trainCounts);
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
    final = accuracy(logits, testSet.labels, data.trainCounts);
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
