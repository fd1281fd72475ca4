/**
 * `lade train`: resolve the configuration (embedded default, recipe file,
 * flags), pick the run directory, train with Ctrl-C writing a checkpoint,
 * and print the result on the uniform test set and the shift grid.
 *
 * Distributed: with `--nproc-per-node N` this process is a launcher that
 * starts N ranks of itself (lib/distributed/launcher.ts) and exits with the first
 * failing rank's status; in a rank environment (the launcher's, torchrun's
 * or Slurm's) it trains as one rank, and only rank 0 prints and writes.
 *
 * @module
 */

import { printWarning, UsageError } from "./errors.ts";
import { evaluateCommand } from "./evaluate.ts";
import { parseRankEnv, type RankEnv } from "../distributed/env.ts";
import { LAUNCHER_PID_ENV, launchLocal, watchLauncher } from "../distributed/launcher.ts";
import { DEFAULT_TIMEOUT_SECONDS, resolveBackend } from "../distributed/process_group.ts";
import { checkGlobalBatch, rankDevice } from "../train/data_parallel.ts";
import { parseDevice } from "../torch/device.ts";
import {
  combineExperts,
  METHOD_REGISTRY,
  methodExperts,
  METHODS,
  predictionExperts,
} from "../losses/methods.ts";
import type { Tensor } from "../torch/tensor.ts";
import { readManifest } from "../run/checkpoint.ts";
import {
  type ConfigOverrides,
  readConfigFile,
  resolveConfig,
  type TrainConfig,
  validateConfig,
} from "../config/config.ts";
import { parseCheckpointEvery, train, type TrainResult } from "../train/trainer.ts";
import { useDevice } from "../torch/device.ts";

export { METHODS };

/** The methods, a line each (from the method registry), for the help of `train`. */
export function methodsHelp(): string {
  const width = Math.max(...METHODS.map((m) => m.length));
  return "\nMethods:\n" +
    METHOD_REGISTRY.map((m) => `  ${m.name.padEnd(width)}  ${m.help}`).join("\n");
}

/** How distributed training is started, for the help of `train`. */
export function distributedHelp(): string {
  return `

Distributed (data-parallel: each rank takes its share of every global batch, the
loss sees the whole batch, gradients are summed; batch norm keeps per-rank batch
statistics):
  lade train --nproc-per-node 2 ...   ranks on this machine
  torchrun --nnodes 2 --nproc-per-node 8 ... --no-python lade train ...
                                      RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT
  srun lade train ...                 SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
On CUDA each rank uses cuda:LOCAL_RANK. A rank that dies ends the others at once, one
that hangs after --dist-timeout; --resume works with any number of ranks that divides
the batch (the run directory must be visible to every rank).`;
}

/** The flags as commander hands them over (strings). */
export interface TrainCommandOptions {
  config?: string;
  dataset?: string;
  method?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  alpha?: string;
  lambda?: string;
  device?: string;
  threads?: string;
  seed?: string;
  out?: string;
  resume?: string;
  precision?: string;
  cudaGraphs?: string;
  /** image-list: skip unreadable images. */
  skipBadImages?: boolean;
  /** The pixel limit of a decoded image. */
  maxImagePixels?: string;
  /** Checkpoints inside epochs: steps (`500`) or minutes (`10m`). */
  checkpointEvery?: string;
  /** Initial weights (safetensors or a PyTorch state dict). */
  init?: string;
  /** head or none. */
  initSkip?: string;
  /** true or false. */
  initStrict?: string;
  /** none or backbone. */
  freeze?: string;
  /** shuffle, balanced or sqrt. */
  sampler?: string;
  backboneLr?: string;
  lrStep?: string;
  lrGamma?: string;
  /** Start this many local ranks (data-parallel). */
  nprocPerNode?: string;
  /** gloo or nccl. */
  backend?: string;
  /** Seconds a rank waits for a peer. */
  distTimeout?: string;
  /** Images per class held out as a validation split (or a fraction). */
  valPerClass?: string;
  /** The long tail's imbalance ratio R. */
  imbalance?: string;
  /** BalPoE: the experts' lambdas, comma-separated. */
  expertLambdas?: string;
  /** Mixup's alpha (0: off). */
  mixup?: string;
  /** CutMix's alpha (0: off). */
  cutmix?: string;
}

/** The flags a launcher hands on to its ranks (all but --nproc-per-node). */
const FORWARDED: readonly [Exclude<keyof TrainCommandOptions, "nprocPerNode">, string][] = [
  ["config", "--config"],
  ["dataset", "--dataset"],
  ["method", "--method"],
  ["epochs", "--epochs"],
  ["batchSize", "--batch-size"],
  ["lr", "--lr"],
  ["alpha", "--alpha"],
  ["lambda", "--lambda"],
  ["device", "--device"],
  ["threads", "--threads"],
  ["seed", "--seed"],
  ["out", "--out"],
  ["resume", "--resume"],
  ["precision", "--precision"],
  ["cudaGraphs", "--cuda-graphs"],
  ["skipBadImages", "--skip-bad-images"],
  ["maxImagePixels", "--max-image-pixels"],
  ["checkpointEvery", "--checkpoint-every"],
  ["backend", "--backend"],
  ["distTimeout", "--dist-timeout"],
  ["init", "--init"],
  ["initSkip", "--init-skip"],
  ["initStrict", "--init-strict"],
  ["freeze", "--freeze"],
  ["sampler", "--sampler"],
  ["backboneLr", "--backbone-lr"],
  ["lrStep", "--lr-step"],
  ["lrGamma", "--lr-gamma"],
  ["valPerClass", "--val-per-class"],
  ["imbalance", "--imbalance"],
  ["expertLambdas", "--expert-lambdas"],
  ["mixup", "--mixup"],
  ["cutmix", "--cutmix"],
];

/** A numeric flag's value; a UsageError naming the flag when it is not a number. */
function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`invalid ${flag} '${value}': expected a number`);
  return n;
}

/** The flags that override the config, parsed. */
export function parseFlags(o: TrainCommandOptions): ConfigOverrides {
  return {
    dataset: o.dataset,
    method: o.method,
    epochs: num("--epochs", o.epochs),
    batchSize: num("--batch-size", o.batchSize),
    lr: num("--lr", o.lr),
    alpha: num("--alpha", o.alpha),
    lambda: num("--lambda", o.lambda),
    device: o.device,
    threads: num("--threads", o.threads),
    seed: num("--seed", o.seed),
    precision: o.precision,
    cudaGraphs: o.cudaGraphs,
    skipBadImages: o.skipBadImages,
    maxImagePixels: num("--max-image-pixels", o.maxImagePixels),
    init: o.init,
    initSkip: o.initSkip,
    initStrict: bool("--init-strict", o.initStrict),
    freeze: o.freeze,
    sampler: o.sampler,
    backboneLr: num("--backbone-lr", o.backboneLr),
    lrStep: num("--lr-step", o.lrStep),
    lrGamma: num("--lr-gamma", o.lrGamma),
    valPerClass: num("--val-per-class", o.valPerClass),
    imbalance: num("--imbalance", o.imbalance),
    expertLambdas: numberList("--expert-lambdas", o.expertLambdas),
    mixup: num("--mixup", o.mixup),
    cutmix: num("--cutmix", o.cutmix),
  };
}

/** A comma-separated list of numbers (`0,1,2`); a UsageError naming the flag otherwise. */
function numberList(flag: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(",").map((x) => x.trim());
  const out = parts.map((x) => (x === "" ? NaN : Number(x)));
  if (out.some((x) => !Number.isFinite(x))) {
    throw new UsageError(`invalid ${flag} '${value}': expected numbers separated by commas`);
  }
  return out;
}

/** A true/false flag's value; a UsageError naming the flag otherwise. */
function bool(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === "true" || value === "false") return value === "true";
  throw new UsageError(`invalid ${flag} '${value}': expected true or false`);
}

/** A run directory's time stamp: 20250101-120000. */
export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${
    p(d.getMinutes())
  }${p(d.getSeconds())}`;
}

/** The configuration and run directory of a resumed run (only hardware flags and --epochs may change). */
async function resumeSetup(
  o: TrainCommandOptions,
  flags: ConfigOverrides,
): Promise<{ config: TrainConfig; runDir: string }> {
  const runDir = o.resume!;
  const fixed: [keyof TrainCommandOptions, string][] = [
    ["config", "--config"],
    ["dataset", "--dataset"],
    ["method", "--method"],
    ["batchSize", "--batch-size"],
    ["lr", "--lr"],
    ["alpha", "--alpha"],
    ["lambda", "--lambda"],
    ["seed", "--seed"],
    ["out", "--out"],
    ["skipBadImages", "--skip-bad-images"],
    ["init", "--init"],
    ["initSkip", "--init-skip"],
    ["initStrict", "--init-strict"],
    ["freeze", "--freeze"],
    ["sampler", "--sampler"],
    ["backboneLr", "--backbone-lr"],
    ["lrStep", "--lr-step"],
    ["lrGamma", "--lr-gamma"],
    ["valPerClass", "--val-per-class"],
    ["imbalance", "--imbalance"],
    ["expertLambdas", "--expert-lambdas"],
    ["mixup", "--mixup"],
    ["cutmix", "--cutmix"],
  ];
  for (const [key, flag] of fixed) {
    if (o[key] !== undefined) {
      throw new UsageError(`${flag} cannot be combined with --resume (the run keeps its config)`);
    }
  }
  const manifest = await readManifest(runDir).catch((e) => {
    if (e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  });
  if (manifest === null) {
    throw new UsageError(`--resume ${runDir}: no checkpoint there (checkpoint.json)`);
  }
  const patched = {
    ...manifest.config,
    device: flags.device ?? manifest.config.device,
    threads: flags.threads ?? manifest.config.threads,
    dataset: {
      ...manifest.config.dataset,
      max_image_pixels: flags.maxImagePixels ?? manifest.config.dataset.max_image_pixels,
    },
    train: {
      ...manifest.config.train,
      epochs: flags.epochs ?? manifest.config.train.epochs,
      precision: flags.precision ?? manifest.config.train.precision,
      cuda_graphs: flags.cudaGraphs ?? manifest.config.train.cuda_graphs,
    },
  };
  const config = validateConfig(patched);
  if (config.train.epochs < manifest.epoch) {
    throw new UsageError(
      `invalid --epochs ${config.train.epochs}: the run has already finished ${manifest.epoch} epochs`,
    );
  }
  return { config, runDir };
}

/** A fresh run's configuration and directory. */
async function freshSetup(
  o: TrainCommandOptions,
  flags: ConfigOverrides,
): Promise<{ config: TrainConfig; runDir: string }> {
  const file = o.config === undefined
    ? undefined
    : { patch: await readConfigFile(o.config), path: o.config };
  const config = resolveConfig(file, flags);
  const runDir = o.out ??
    `runs/${config.name ?? `${config.dataset.name}_${config.method.name}`}_${timestamp()}`;
  // A file in the way is said now, not after the (slow) data has loaded.
  const info = await Deno.stat(runDir).catch(() => null);
  if (info !== null && !info.isDirectory) {
    throw new UsageError(`--out ${runDir}: exists and is not a folder`);
  }
  if ((await readManifest(runDir).catch(() => null)) !== null) {
    throw new UsageError(
      `--out ${runDir} already holds a run; continue it with --resume ${runDir} or choose another --out`,
    );
  }
  return { config, runDir };
}

/** `logits` as the method predicts with them (see combineExperts); `logits` itself is consumed. */
function takeCombined(logits: Tensor, method: string): Tensor {
  if (predictionExperts(method) !== methodExperts(method)) {
    try {
      return combineExperts(logits, method);
    } finally {
      logits.dispose();
    }
  }
  return logits;
}

/** Prints the result table of a finished run. */
export function printResult(result: TrainResult): void {
  const f = result.final;
  if (!f) return;
  const cell = (x: number | null) => (x === null ? "-" : x.toFixed(2)).padStart(7);
  console.log("");
  console.log(`top-1 accuracy (%) on the uniform test set`);
  console.log(
    `${"".padEnd(10)}${"overall".padStart(7)}${"many".padStart(7)}${"medium".padStart(7)}${
      "few".padStart(7)
    }`,
  );
  console.log(
    `${"uniform".padEnd(10)}${cell(f.top1)}${cell(f.many)}${cell(f.medium)}${cell(f.few)}`,
  );
  console.log(`run: ${result.runDir}`);
}

/** `--dist-timeout`: positive seconds (default 120). */
export function parseDistTimeout(text: string | undefined): number {
  const t = num("--dist-timeout", text) ?? DEFAULT_TIMEOUT_SECONDS;
  if (!(t > 0)) throw new UsageError(`invalid --dist-timeout '${text}': expected seconds > 0`);
  return t;
}

/** The most ranks `--nproc-per-node` starts on one machine (each is a whole lade process). */
export const MAX_LOCAL_RANKS = 64;

/** `--nproc-per-node`: a positive integer, at most MAX_LOCAL_RANKS. */
function parseNproc(text: string): number {
  const n = num("--nproc-per-node", text)!;
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`invalid --nproc-per-node '${text}': expected a positive integer`);
  }
  if (n > MAX_LOCAL_RANKS) {
    throw new UsageError(
      `invalid --nproc-per-node ${n}: the limit is ${MAX_LOCAL_RANKS} ranks on one machine ` +
        "(each is a process with its own threads; use more nodes for more ranks)",
    );
  }
  return n;
}

/** Runs `train`. */
export async function trainCommand(
  o: TrainCommandOptions,
  context: {
    /** The seed group this run belongs to: an interrupted run says to resume the group. */
    group?: string;
  } = {},
): Promise<void> {
  const flags = parseFlags(o);
  const checkpointEvery = o.checkpointEvery === undefined
    ? undefined
    : parseCheckpointEvery(o.checkpointEvery);
  const timeoutSeconds = parseDistTimeout(o.distTimeout);
  // A rank of a distributed job (lade's launcher, torchrun, srun), or not.
  const env = parseRankEnv();
  if (o.nprocPerNode !== undefined && env !== undefined) {
    throw new UsageError(
      `--nproc-per-node: this process is already rank ${env.rank} of ${env.worldSize} ` +
        `(started by ${env.launcher}); drop --nproc-per-node`,
    );
  }
  if (env === undefined && o.nprocPerNode === undefined && o.backend !== undefined) {
    resolveBackend(o.backend, "cpu"); // an unknown name is still one line
  }
  const { config, runDir } = o.resume !== undefined
    ? await resumeSetup(o, flags)
    : await freshSetup(o, flags);
  if (o.nprocPerNode !== undefined) {
    return await launch(o, parseNproc(o.nprocPerNode), config, runDir, timeoutSeconds);
  }
  // Only rank 0 prints (errors excepted: every rank reports its own).
  const lead = env === undefined || env.rank === 0;
  if (env !== undefined) watchLauncher();

  // First Ctrl-C (or SIGTERM, how a cluster preempts a job): finish the
  // current step, write a checkpoint, exit 130 (143). Second: exit at once.
  // (Every rank receives it; the ranks agree on the step to stop after.)
  const stop = { requested: false };
  let exitCode = 130;
  const onSignal = (signal: "SIGINT" | "SIGTERM") => () => {
    const code = signal === "SIGTERM" ? 143 : 130;
    if (stop.requested) {
      if (lead) console.error(`lade: ${signal} again; exiting without a checkpoint`);
      Deno.exit(code);
    }
    stop.requested = true;
    exitCode = code;
    if (lead) {
      console.error(
        `\nlade: ${signal === "SIGINT" ? "interrupted" : "SIGTERM"}; stopping after this ` +
          "step to write a checkpoint (Ctrl-C again to quit)",
      );
    }
  };
  const onInterrupt = onSignal("SIGINT");
  const onTerminate = onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInterrupt);
  // A rank of lade's own launcher gets a user's SIGTERM forwarded as SIGINT;
  // a SIGTERM from that launcher means "end now" (another rank failed).
  const ownLauncher = Deno.env.get(LAUNCHER_PID_ENV) !== undefined;
  const onTerm = Deno.build.os !== "windows" && !ownLauncher;
  if (onTerm) Deno.addSignalListener("SIGTERM", onTerminate);
  let result: TrainResult;
  try {
    result = await train(config, {
      runDir,
      resume: o.resume !== undefined,
      stop,
      checkpointEvery,
      log: lead ? (line) => console.log(line) : undefined,
      tty: lead && Deno.stdout.isTerminal(),
      onWarning: lead ? printWarning : undefined,
      ...(env !== undefined
        ? {
          distributed: { env, backend: o.backend, timeoutSeconds },
          keepTestLogits: true,
        }
        : {}),
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    if (onTerm) Deno.removeSignalListener("SIGTERM", onTerminate);
  }
  if (result.interrupted) {
    if (lead) {
      const how = env === undefined ? "" : " (with any number of ranks that divides the batch)";
      const target = context.group ?? runDir;
      console.log(
        `checkpoint in ${runDir}; continue ${context.group ? "the seed group " : ""}with: ` +
          `lade train --resume ${target}${how}`,
      );
    }
    Deno.exit(exitCode);
  }
  if (!lead) {
    result.test?.logits.dispose();
    return;
  }
  // Training is over and checkpointed; a signal from here on stops only the
  // evaluation, and says so (one that came during the last epoch's end stops
  // before the grid).
  const finalStop = (signal: "SIGINT" | "SIGTERM") => {
    console.error(
      `\nlade: ${signal === "SIGINT" ? "interrupted" : "SIGTERM"} during the final evaluation ` +
        `(the shift grid); training finished and its checkpoint in ${runDir} is intact; ` +
        `evaluate it with: lade evaluate --run ${runDir} --shift all`,
    );
    Deno.exit(signal === "SIGINT" ? 130 : 143);
  };
  printResult(result);
  if (stop.requested) {
    result.test?.logits.dispose();
    finalStop(exitCode === 143 ? "SIGTERM" : "SIGINT");
  }
  const onFinalInt = () => finalStop("SIGINT");
  const onFinalTerm = () => finalStop("SIGTERM");
  Deno.addSignalListener("SIGINT", onFinalInt);
  if (onTerm) Deno.addSignalListener("SIGTERM", onFinalTerm);
  try {
    // End with the shift grid, as the paper reports it (and the run's report).
    // A distributed run has the test logits already, predicted by all ranks.
    const test = result.test;
    await evaluateCommand(
      { run: runDir, shift: "all" },
      test === undefined ? undefined : {
        ...test,
        // A product of experts (BalPoE) predicts with their mean.
        logits: takeCombined(test.logits, config.method.name),
        method: config.method.name,
        dataset: config.dataset.name,
      },
    );
  } finally {
    Deno.removeSignalListener("SIGINT", onFinalInt);
    if (onTerm) Deno.removeSignalListener("SIGTERM", onFinalTerm);
  }
}

/**
 * `--nproc-per-node N`: checks what every rank would reject (so a bad
 * configuration is one line, before any rank starts), then starts N ranks of
 * this program on this machine with the same flags (and the run directory
 * chosen here) and exits with the first failing rank's status.
 */
async function launch(
  o: TrainCommandOptions,
  n: number,
  config: TrainConfig,
  runDir: string,
  timeoutSeconds: number,
): Promise<void> {
  checkGlobalBatch(config.train.batch_size, n);
  // The last local rank's device exists (cuda:N-1), and the backend fits it.
  const last: Pick<RankEnv, "localRank"> = { localRank: n - 1 };
  const device = parseDevice(config.device).name === "cpu"
    ? "cpu"
    : useDevice(rankDevice(config.device, last));
  resolveBackend(o.backend, device);
  const args = ["train"];
  for (const [key, flag] of FORWARDED) {
    const value = o[key];
    if (value === true) args.push(flag);
    else if (value !== undefined && value !== false) args.push(flag, String(value));
  }
  if (o.resume === undefined && o.out === undefined) args.push("--out", runDir);
  const result = await launchLocal({
    nprocPerNode: n,
    args,
    // After one rank has finished, the others (rank 0 writes the report) get this long.
    timeoutSeconds: Math.max(timeoutSeconds, 600),
  });
  if (!result.success) {
    if (result.interrupted === undefined) console.error(`lade: error: ${result.message}`);
    // Stopped by a signal: its status (130 or 143), whatever the ranks said.
    if (result.interrupted !== undefined) {
      Deno.exit(result.interrupted === "SIGTERM" ? 143 : 130);
    }
    Deno.exit(result.code);
  }
}
