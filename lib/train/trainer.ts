/**
 * The training loop. Read it top to bottom: set up (threads, device, data,
 * model, optimiser, loss, loader), open the run (fresh, or restored from its
 * checkpoint), then for each epoch (`runEpochs`) set the learning rate, run
 * the steps (`runSteps`: forward, loss, backward, step, each inside scope()
 * so no tensor handle outlives its step), evaluate, write metrics and a
 * checkpoint (`endEpoch`).
 *
 * What differs between one process and the ranks of a distributed job
 * (`TrainOptions.distributed`) lives behind `StepRunner` (step_runner.ts,
 * step_runner_dp.ts): every rank runs the same loop over its share of each
 * global batch, with the collectives of data_parallel.ts, and only rank 0
 * writes the run directory. CUDA-graph replay is the step's own (step.ts).
 * The rest has a file each: the run's state and writes (run_state.ts), the
 * evaluations (evaluation.ts), checkpoints inside an epoch
 * (checkpoint_every.ts), the batch transforms (augment.ts) and the printed
 * lines (lines.ts, progress.ts).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { removeStaleTemporaries } from "../fs.ts";
import { BatchLoader, type DataSplits, type ImageSet, shiftIndices } from "../data/mod.ts";
import { createLoss, type Loss } from "../losses/mod.ts";
import { Model, type Precision } from "../models/mod.ts";
import { setCudnnBenchmark, useSideStream } from "../torch/cuda.ts";
import { type Device, manualSeed, setNumThreads } from "../torch/device.ts";
import { type TrainingThreads, trainingThreads } from "./threads.ts";
import type { Tensor } from "../torch/tensor.ts";
import { loadCheckpoint, MANIFEST, readManifest } from "../run/checkpoint.ts";
import { modelFromManifest } from "../run/run_model.ts";
import {
  loadWeights,
  modelStateDict,
  readWeightsFile,
  spreadOverExperts,
} from "../weights/model_weights.ts";
import type { RawTensor } from "../weights/safetensors.ts";
import type { TrainConfig } from "../config/config.ts";
import { loadConfigDataset, resolveArchitecture } from "../config/dataset.ts";
import { useDevice } from "../torch/device.ts";
import type { EpochMetrics } from "../run/metrics.ts";
import { SGD } from "./optimizer.ts";
import { RunLock } from "../run/lock.ts";
import { plural } from "../plural.ts";
import { Progress } from "./progress.ts";
import { learningRate } from "./schedule.ts";
import { TrainStep } from "./step.ts";
import {
  checkGlobalBatch,
  DataParallel,
  type DistributedOptions,
  rankDevice,
} from "./data_parallel.ts";
import { type CheckpointEvery, PeriodicCheckpoints } from "./checkpoint_every.ts";
import { Evaluator, type TestAccuracy } from "./evaluation.ts";
import { earlyStopLine, epochLine, startLines } from "./lines.ts";
import { epochRecord, RunState, zeroSums } from "./run_state.ts";
import { SingleProcessRunner, type StepRunner } from "./step_runner.ts";
import { DataParallelRunner } from "./step_runner_dp.ts";
import { batchTransforms, stepTransformed } from "./augment.ts";

export { CONFIG_FILE, RESULT_FILE } from "./run_state.ts";
export { type CheckpointEvery, parseCheckpointEvery } from "./checkpoint_every.ts";
export type { TestAccuracy } from "./evaluation.ts";

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
  using lossFn = lossFor(config, data, device);
  using loader = loaderFor(config, data, device, dp);
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

/** The loss `config.method` names, for the training counts of `data`. */
function lossFor(config: TrainConfig, data: DataSplits, device: Device): Loss {
  const m = config.method;
  return createLoss(m.name, {
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
}

/** The training batches (with ranks, this rank's share of every global batch). */
function loaderFor(
  config: TrainConfig,
  data: DataSplits,
  device: Device,
  dp: DataParallel | undefined,
): BatchLoader {
  return new BatchLoader(data.train, data, {
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

/** What every epoch of a run works with. */
interface Loop {
  c: EpochsContext;
  /** Where the run stands, and its writes. */
  run: RunState;
  /** One process or one rank of several. */
  runner: StepRunner;
  /** Checkpoints inside an epoch (`checkpointEvery`). */
  saves: PeriodicCheckpoints;
  evaluator: Evaluator;
  /** Keep the whole test split's logits after the last epoch (`keepTestLogits`). */
  keepLogits: boolean;
  log: (line: string) => void;
}

/**
 * The epoch loop: for each epoch, set the learning rate, run the steps,
 * evaluate, record the metrics and write a checkpoint; a stop (Ctrl-C) is
 * answered with a checkpoint after the current step.
 */
async function runEpochs(c: EpochsContext): Promise<TrainResult> {
  const { opts, dp, model, optimizer, config } = c;
  const log = opts.log ?? (() => {});
  const { runDir } = opts;
  const { epochs } = config.train;
  const batches = c.loader.batchesPerEpoch;
  // Only rank 0 writes the run directory.
  const writer = (dp?.rank ?? 0) === 0;

  // ---- a fresh run, or the state of the checkpoint
  // A fresh run's directory that this call makes is removed again when the
  // run fails before its first checkpoint: no folder holding only config.yaml.
  const madeDir = writer && !opts.resume && !(await exists(runDir));
  opts.onStart?.();
  if (writer) await makeRunDir(runDir);
  using _lock = writer && !opts.resume ? lockRun(opts) : undefined;
  if (writer) await removeStaleTemporaries(runDir);
  const run = await openRun(c, writer, log);
  // Every rank starts from rank 0's weights and statistics.
  dp?.broadcastModel(model, "all");
  for (const line of startLines(c, config.model.arch, batches)) log(line);
  const l = startLoop(c, run, log);
  const { runner, evaluator } = l;
  using _evaluator = evaluator;

  try {
    let final: TestAccuracy | undefined;
    if (run.selection.stopped) {
      log(
        `the run stopped early after epoch ${run.start.epoch} (early stopping); nothing left to train`,
      );
    }
    for (let epoch = run.start.epoch; epoch < epochs && !run.selection.stopped; epoch++) {
      // ---- one epoch: the learning rate, then the steps
      const lr = setLearningRate(optimizer, config, epoch);
      model.train();
      const progress = new Progress(
        `epoch ${epoch + 1}/${epochs}`,
        batches,
        opts.tty ?? false,
        log,
      );
      // Thread counts the default's governor changed in this epoch (said on the epoch's line).
      const threadChanges: string[] = [];
      const stoppedAfter = await runSteps(l, epoch, progress, threadChanges);
      if (stoppedAfter !== undefined) {
        progress.done(
          `interrupted in epoch ${epoch + 1} after step ${stoppedAfter}; checkpoint written`,
        );
        return result(l, true, epoch, stoppedAfter);
      }

      // ---- end of epoch: evaluate, record, checkpoint
      const end = await endEpoch(l, epoch, lr, progress, threadChanges);
      if (end.interrupted) return end.interrupted;
      const last = epoch === epochs - 1;
      if (last) final = end.test;
      if (end.stopEarly) break;
      if (runner.stopping() && !last) {
        log(`interrupted after epoch ${epoch + 1}; checkpoint written`);
        return result(l, true, epoch + 1, 0);
      }
    }

    // A run resumed after its last epoch evaluates again rather than reporting nothing.
    if (final === undefined) final = await evaluator.test(l.keepLogits);
    await run.writeResult(final, c.testSet.size);
    return finalResult(l, final, evaluator.takeKept());
  } catch (e) {
    if (madeDir && !run.checkpointed) {
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
    }
    throw e;
  }
}

/** The run: fresh (its config.yaml written), or the state of its checkpoint, restored. */
function openRun(
  c: EpochsContext,
  writer: boolean,
  log: (line: string) => void,
): Promise<RunState> {
  const { opts, config, data, model, optimizer, dp } = c;
  return RunState.open({
    runDir: opts.runDir,
    writer,
    resume: opts.resume ?? false,
    config,
    data,
    model,
    optimizer,
    batches: c.loader.batchesPerEpoch,
    worldSize: dp?.worldSize ?? 1,
    log,
  });
}

/** What the epochs work with: the step runner (one process or a rank), the evaluations. */
function startLoop(c: EpochsContext, run: RunState, log: (line: string) => void): Loop {
  const { opts, dp, config } = c;
  const stop = opts.stop ?? { requested: false };
  const runner = dp
    ? new DataParallelRunner(c.step, dp, stop, config.train.batch_size)
    : new SingleProcessRunner(c.step, stop, c.device);
  const evaluator = new Evaluator({ ...c, runner, batchSize: config.train.eval_batch_size });
  const saves = new PeriodicCheckpoints(opts.checkpointEvery ?? {});
  const keepLogits = opts.keepTestLogits ?? false;
  return { c, run, runner, saves, evaluator, keepLogits, log };
}

/**
 * The end of 0-based `epoch`: its evaluation, its metrics and checkpoint,
 * its line, and model selection's verdict (`stopEarly`, said in a line). A
 * stop during the evaluation is answered with a checkpoint at the epoch's
 * last step (`interrupted`).
 */
async function endEpoch(
  l: Loop,
  epoch: number,
  lr: number,
  progress: Progress,
  threadChanges: string[],
): Promise<{ interrupted?: TrainResult; test?: TestAccuracy; stopEarly?: boolean }> {
  const { c, run } = l;
  const { epochs, eval_every: every } = c.config.train;
  const last = epoch === epochs - 1;
  const plan = { last, every, selecting: run.selecting, keepLogits: l.keepLogits };
  const ev = await l.evaluator.epoch(epoch, plan);
  if (ev === undefined) {
    // A stop during the epoch's evaluation (one process only): the
    // checkpoint is the epoch's steps done; a resumed run evaluates the
    // epoch and records it as this run would have.
    const batches = c.loader.batchesPerEpoch;
    await run.checkpoint(epoch, batches, run.running);
    progress.done(
      `interrupted in epoch ${epoch + 1} after its last step, during its evaluation; ` +
        "checkpoint written",
    );
    return { interrupted: result(l, true, epoch, batches) };
  }
  const { newBest, stopEarly } = run.select(epoch, ev.valTop1);
  const record = epochRecord(epoch, lr, run.running, ev);
  await run.recordEpoch(record, epoch, newBest);
  l.saves.reset();
  progress.done(epochLine(epochs, record, ev, newBest, threadChanges));
  if (stopEarly) l.log(earlyStopLine(c.config, run.selection));
  return { test: ev.test, stopEarly };
}

/**
 * The steps of 0-based `epoch` (those of a resumed epoch not done yet), with
 * the checkpoints `checkpointEvery` asks for inside it. A stop is answered
 * after the current step with a checkpoint: the steps done then are
 * returned; undefined when the epoch's steps are all done.
 */
async function runSteps(
  l: Loop,
  epoch: number,
  progress: Progress,
  threadChanges: string[],
): Promise<number | undefined> {
  const { c, run, runner, saves } = l;
  const batches = c.loader.batchesPerEpoch;
  const skip = epoch === run.start.epoch ? run.start.step : 0;
  if (skip === 0) run.running = zeroSums();
  const checkpointed = () => run.checkpointed;
  runner.beginEpoch({ epoch, batches, skip, running: run.running, progress, checkpointed });
  const ctx = { epoch, epochs: c.config.train.epochs };
  const transforms = batchTransforms(c.config, c.data, runner, c.device);
  // (An epoch whose steps were all done before a stop goes straight to its end.)
  if (skip === batches) return undefined;
  let done = 0;
  for await (const batch of c.loader.epoch(epoch)) {
    // A resumed epoch replays the same batches; those already done are skipped.
    if (done < skip) {
      batch.dispose();
      done++;
      continue;
    }
    stepTransformed(transforms, runner, batch, { epoch, step: done }, ctx);
    reviseThreads(c.threads, threadChanges);
    batch.dispose();
    done++;
    saves.stepped();
    const settled = runner.afterStep(done);
    // A periodic checkpoint inside the epoch (the epoch's end writes its own);
    // with several ranks, only where the sums were just read and agreed on.
    if (saves.due() && done < batches && settled && !runner.stopping()) {
      runner.settle(done); // also checks the loss is finite before it is saved
      await run.checkpoint(epoch, done, run.running);
      saves.reset();
    }
    c.opts.onStep?.(epoch, done - 1);
    if (runner.stopping() && done < batches) {
      runner.settle(done);
      await run.checkpoint(epoch, done, run.running);
      return done;
    }
  }
  return undefined;
}

/** Makes the run folder (an InputError naming it when that fails). */
async function makeRunDir(runDir: string): Promise<void> {
  try {
    await Deno.mkdir(runDir, { recursive: true });
  } catch (e) {
    throw new InputError(
      `cannot make the run folder ${runDir}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
}

/** Sets the optimiser's learning rates for 0-based `epoch`; returns the base rate. */
function setLearningRate(optimizer: SGD, config: TrainConfig, epoch: number): number {
  const { schedule, lr: base, backbone_lr, epochs } = config.train;
  const lr = learningRate(schedule, base, epoch, epochs);
  optimizer.lr = lr;
  if (backbone_lr !== undefined) {
    // The backbone's own rate, on the same schedule.
    optimizer.setGroupLr("backbone", learningRate(schedule, backbone_lr, epoch, epochs));
  }
  return lr;
}

/** Lets the default thread count's governor revise it after a step (noted in `changes`). */
function reviseThreads(threads: TrainingThreads, changes: string[]): void {
  const revised = threads.governor?.revise();
  if (revised) {
    changes.push(`threads ${threads.threads} -> ${revised.threads} (${revised.why})`);
    threads.threads = revised.threads;
    setNumThreads(revised.threads);
  }
}

/** What train() returns, where the run stands (`epoch` and `stepDone` next). */
function result(
  l: Loop,
  interrupted: boolean,
  epoch: number,
  stepDone: number,
  final?: TestAccuracy,
): TrainResult {
  const { dp } = l.c;
  return {
    runDir: l.c.opts.runDir,
    interrupted,
    epoch,
    step: stepDone,
    metrics: l.run.metrics,
    ...(final ? { final } : {}),
    params: l.c.model.numParams,
    rank: dp?.rank ?? 0,
    worldSize: dp?.worldSize ?? 1,
  };
}

/** A finished run's result, with the whole test split's logits when they were kept. */
function finalResult(l: Loop, final: TestAccuracy, kept: Tensor | undefined): TrainResult {
  const out = result(l, false, l.c.config.train.epochs, 0, final);
  const { data } = l.c;
  if (kept !== undefined) {
    out.test = {
      logits: kept,
      labels: data.test.labels.slice(),
      trainCounts: [...data.trainCounts],
      logitPrior: l.run.logitPrior,
      classNames: [...data.classNames],
    };
  }
  return out;
}
