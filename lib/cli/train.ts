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

import { plural } from "../plural.ts";
import { join } from "node:path";
import { TRAIN_FLAGS, trainFlag } from "../config/train_flags.ts";
import { printWarning, UsageError } from "./errors.ts";
import {
  currentPhase,
  exitOnSignal,
  onEverySignal,
  type Phase,
  setPhase,
  setQuiet,
  signalTaken,
  signalWord,
} from "./signals.ts";
import { notApplicableLines } from "./shot_columns.ts";
import { timestamp } from "./timestamp.ts";
import { evaluateCommand } from "./evaluate.ts";
import { parseRankEnv, type RankEnv } from "../distributed/env.ts";
import { launchLocal, watchLauncher } from "../distributed/launcher.ts";
import {
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
  resolveBackend,
} from "../distributed/process_group.ts";
import { checkGlobalBatch, rankDevice } from "../train/data_parallel.ts";
import { parseDevice } from "../torch/device.ts";
import { combineExperts, methodExperts, predictionExperts } from "../losses/methods.ts";
import type { Tensor } from "../torch/tensor.ts";
import { readManifest } from "../run/checkpoint.ts";
import {
  type ConfigOverrides,
  type ConfigPatch,
  keySource,
  mergeConfig,
  overridesPatch,
  readConfigFile,
  resolveConfig,
  type TrainConfig,
  validateConfig,
} from "../config/config.ts";
import { InputError } from "../errors.ts";
import { parseCheckpointEvery, train, type TrainResult } from "../train/trainer.ts";
import { useDevice } from "../torch/device.ts";

export { timestamp };

/**
 * The flags as commander hands them over: strings, or true for a switch,
 * by the camelCase name of each flag of TRAIN_FLAGS
 * (lib/config/train_flags.ts). The ones this module reads itself are named.
 */
export interface TrainCommandOptions {
  [name: string]: string | boolean | undefined;
  config?: string;
  out?: string;
  resume?: string;
  checkpointEvery?: string;
  nprocPerNode?: string;
  backend?: string;
  distTimeout?: string;
}

/** A numeric flag's value; a UsageError naming the flag when it is not a number. */
function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n)) {
    throw new UsageError(
      `invalid ${flag} '${value}': ${Number.isNaN(n) ? "expected a number" : "too large a number"}`,
    );
  }
  return n;
}

/** The flags that override the config, parsed by their kind (TRAIN_FLAGS). */
export function parseFlags(o: TrainCommandOptions): ConfigOverrides {
  const out: Record<string, unknown> = {};
  for (const f of TRAIN_FLAGS) {
    if (f.key === undefined || o[f.name] === undefined) continue;
    const v = o[f.name];
    const given = typeof v === "string" ? v : undefined;
    switch (f.kind) {
      case "switch":
        out[f.name] = v === true;
        break;
      case "number":
        out[f.name] = num(f.flag, given);
        break;
      case "bool":
        out[f.name] = bool(f.flag, given);
        break;
      case "numbers":
        out[f.name] = numberList(f.flag, given);
        break;
      case "list":
        out[f.name] = given?.split(",").map((x) => x.trim());
        break;
      case "string":
        out[f.name] = given;
        break;
    }
  }
  return out;
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

/** The configuration and run directory of a resumed run (only hardware flags and --epochs may change). */
async function resumeSetup(
  o: TrainCommandOptions,
  flags: ConfigOverrides,
): Promise<{ config: TrainConfig; runDir: string }> {
  const runDir = o.resume!;
  for (const f of TRAIN_FLAGS) {
    if (f.resume === "refused" && o[f.name] !== undefined) {
      throw new UsageError(`${f.flag} cannot be combined with --resume (the run keeps its config)`);
    }
  }
  const manifest = await readManifest(runDir).catch((e) => {
    if (e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  });
  if (manifest === null) {
    throw new UsageError(`--resume ${runDir}: no checkpoint there (checkpoint.json)`);
  }
  // The flags that may change as the run continues (the hardware, the epochs).
  const applied = Object.fromEntries(
    Object.entries(flags).filter(([name]) => trainFlag(name)?.resume === "applied"),
  );
  const patched = mergeConfig(manifest.config, overridesPatch(applied));
  const config = validateConfig(patched);
  if (config.train.epochs < manifest.epoch) {
    throw new UsageError(
      `invalid --epochs ${config.train.epochs}: the run has already finished ${
        plural(manifest.epoch, "epoch")
      }`,
    );
  }
  return { config, runDir };
}

/** A recipe file as read: its patch and path. */
type RecipeFile = { patch: ConfigPatch; path: string };

/** A fresh run's configuration and directory, from the recipe file (if any) and the flags. */
async function freshSetup(
  o: TrainCommandOptions,
  flags: ConfigOverrides,
  file: RecipeFile | undefined,
): Promise<{ config: TrainConfig; runDir: string }> {
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

/** Top-level configuration keys (the others have a dot: `dataset.root`). */
const TOP_KEYS = new Set(["name", "seed", "device", "threads"]);

/**
 * The `train` flags of dataset keys that other commands have no flag for
 * (an `evaluate --run` whose data moved says `dataset.root`, not `--root`).
 */
const DATASET_FLAGS: Readonly<Record<string, string>> = Object.fromEntries(
  ["dataset.root", "dataset.train_list", "dataset.test_list", "dataset.image_root"]
    .concat("dataset.imbalance_type")
    .map((key) => [key, TRAIN_FLAGS.find((f) => f.key === key)!.flag]),
);

/**
 * `e` in the terms of where the value at fault came from: a configuration key
 * (`dataset.root`) set by the recipe file is said as the file and the key
 * (`r.yaml: dataset.root: ...`), one set by a flag (or left at its default)
 * as the flag that sets it (`--root: ...`; the command line says the keys
 * of flags.ts's table so anyway).
 */
export function inSourceTerms(
  e: InputError,
  file: RecipeFile | undefined,
  flags: ConfigOverrides,
): InputError {
  const key = e.parameter;
  const isKey = (k: string) => k.includes(".") || TOP_KEYS.has(k);
  // Keys the message mentions (`dataset.root`): the file's key, or the flag.
  const mention = (whole: string, k: string) => {
    const source = keySource(k, file, flags);
    if (source.kind === "file") return `${k} in ${source.path}`;
    return Object.hasOwn(DATASET_FLAGS, k) ? DATASET_FLAGS[k] : whole;
  };
  const rest = key !== undefined && e.message.startsWith(`${key}: `)
    ? e.message.slice(key.length + 2)
    : e.message;
  const text = rest.replace(/`([a-z_]+\.[a-z_.]+)`/g, mention);
  if (key === undefined || !isKey(key)) {
    return text === rest ? e : new InputError(text, undefined, { cause: e });
  }
  const source = keySource(key, file, flags);
  if (source.kind === "file") {
    return new InputError(`${source.path}: ${key}: ${text}`, undefined, { cause: e });
  }
  if (Object.hasOwn(DATASET_FLAGS, key)) {
    return new InputError(`${DATASET_FLAGS[key]}: ${text}`, undefined, { cause: e });
  }
  return text === rest ? e : new InputError(key, text, { cause: e });
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
  const cell = (x: number | null) => (x === null ? "n/a" : x.toFixed(2)).padStart(9);
  console.log("");
  console.log(`top-1 accuracy (%) on the uniform test set`);
  console.log(
    `${"".padEnd(10)}${"overall".padStart(11)}${"many".padStart(9)}${"medium".padStart(9)}${
      "few".padStart(9)
    }`,
  );
  // Two kinds of average, said in the header: samples, and classes.
  console.log(`${"".padEnd(10)}${"per sample".padStart(11)}${"mean of classes".padStart(24)}`);
  console.log(
    `${"uniform".padEnd(10)}${cell(f.top1).padStart(11)}${cell(f.many)}${cell(f.medium)}${
      cell(f.few)
    }`,
  );
  // On the uniform set every class has test samples: a group without a figure has no class.
  for (const line of notApplicableLines(f)) console.log(line);
  console.log(`run: ${result.runDir}`);
}

/** `--dist-timeout`: positive seconds (default 120). */
export function parseDistTimeout(text: string | undefined): number {
  const t = num("--dist-timeout", text) ?? DEFAULT_TIMEOUT_SECONDS;
  if (!(t > 0) || t > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(
      `invalid --dist-timeout '${text}': expected seconds > 0, at most ${MAX_TIMEOUT_SECONDS} (a week)`,
    );
  }
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
  const file = o.config === undefined || o.resume !== undefined
    ? undefined
    : { patch: await readConfigFile(o.config), path: o.config };
  try {
    const { config, runDir } = o.resume !== undefined
      ? await resumeSetup(o, flags)
      : await freshSetup(o, flags, file);
    await trainWithConfig(o, context, { config, runDir, env, checkpointEvery, timeoutSeconds });
  } catch (e) {
    // A bad value is said where it came from: the recipe file's key, or the flag.
    if (o.resume === undefined && e instanceof InputError) throw inSourceTerms(e, file, flags);
    throw e;
  }
}

/** The rest of `train` once the configuration and the run directory are known. */
async function trainWithConfig(
  o: TrainCommandOptions,
  context: { group?: string },
  s: {
    config: TrainConfig;
    runDir: string;
    env: RankEnv | undefined;
    checkpointEvery: ReturnType<typeof parseCheckpointEvery> | undefined;
    timeoutSeconds: number;
  },
): Promise<void> {
  const { config, runDir, env, checkpointEvery, timeoutSeconds } = s;
  if (o.nprocPerNode !== undefined) {
    return await launch(o, parseNproc(o.nprocPerNode), config, runDir, timeoutSeconds);
  }
  // Only rank 0 prints (errors excepted: every rank reports its own).
  const lead = env === undefined || env.rank === 0;
  if (!lead) setQuiet(true);
  if (env !== undefined) watchLauncher();
  const resumed = o.resume !== undefined;

  // Until the run directory is made, a signal ends the process at once: there is nothing to save.
  setPhase({
    doing: "start-up (the configuration, the data, the model)",
    intact: resumed ? `the run in ${runDir} is as it was` : "nothing was written",
  });
  // Then the first Ctrl-C (or SIGTERM, how a cluster preempts a job) lets
  // the current step finish, writes a checkpoint and exits 130 (143); a
  // second one exits at once. Every rank receives it; the ranks agree on the
  // step to stop after. (A rank of lade's own launcher gets a user's SIGTERM
  // forwarded as SIGINT, and leaves SIGTERM, the launcher's "end now", to
  // its default action: see main.ts.)
  const stop = { requested: false };
  let epochNow = 0;
  const trainingPhase = (): Phase => ({
    doing: `training (epoch ${epochNow + 1} of ${config.train.epochs})`,
    intact: `the last checkpoint in ${runDir} is intact`,
    next: `continue with: lade train --resume ${context.group ?? runDir}`,
    onSignal: (signal) => {
      if (stop.requested) return false;
      stop.requested = true;
      if (lead) {
        console.error(
          `lade: ${signalWord(signal)} during training (epoch ${epochNow + 1} of ` +
            `${config.train.epochs}); stopping after this step to write a checkpoint ` +
            `(${signal === "SIGINT" ? "Ctrl-C" : "SIGTERM"} again to stop at once)`,
        );
      }
      return true;
    },
  });
  let result: TrainResult;
  try {
    result = await train(config, {
      runDir,
      resume: resumed,
      stop,
      checkpointEvery,
      onStart: () => setPhase(trainingPhase()),
      onStep: (epoch) => {
        if (epoch !== epochNow) epochNow = epoch, setPhase(trainingPhase());
      },
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
    // An error ends the process with its own line; a signal meanwhile ends it at once.
    setPhase({ ...currentPhase(), onSignal: undefined });
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
    exitOnSignal(signalTaken() ?? "SIGINT");
  }
  if (!lead) {
    result.test?.logits.dispose();
    return;
  }
  // Training is over and checkpointed; a signal from here on stops only the
  // evaluation, and says so (as does one that came after the last step).
  const next = context.group === undefined
    ? `evaluate it with: lade evaluate --run ${runDir} --shift all`
    : `continue the seed group with: lade train --resume ${context.group}`;
  setPhase({
    doing: "the final evaluation (the shift grid)",
    intact: `training finished and its checkpoint in ${runDir} is intact`,
    next,
  });
  const taken = signalTaken();
  if (taken !== undefined) {
    // The signal came after the last step, and training ended rather than stopped:
    // its line is said already; the rest goes where the resume hint goes.
    result.test?.logits.dispose();
    console.log(
      `training finished before it could stop; its checkpoint in ${runDir} is intact; ${next}`,
    );
    exitOnSignal(taken);
  }
  printResult(result);
  // End with the shift grid, as the paper reports it (and the run's report).
  // A distributed run has the test logits already, predicted by all ranks.
  const test = result.test;
  await evaluateCommand(
    // Training's own report: runDir/report (a later `evaluate` writes its own folder).
    { run: runDir, shift: "all", report: join(runDir, "report"), force: true },
    test === undefined ? undefined : {
      ...test,
      // A product of experts (BalPoE) predicts with their mean.
      logits: takeCombined(test.logits, config.method.name),
      method: config.method.name,
      dataset: config.dataset.name,
    },
    { phases: false },
  );
}

/**
 * The arguments of each rank lade's launcher starts: `train` and every flag
 * given that TRAIN_FLAGS forwards, and `--out` the run directory chosen here
 * (a fresh run's default name has a time in it).
 */
export function rankArguments(o: TrainCommandOptions, runDir: string): string[] {
  const args = ["train"];
  for (const f of TRAIN_FLAGS) {
    if (!f.forwarded) continue;
    const value = o[f.name];
    if (value === true) args.push(f.flag);
    else if (value !== undefined && value !== false) args.push(f.flag, String(value));
  }
  if (o.resume === undefined && o.out === undefined) args.push("--out", runDir);
  return args;
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
  const args = rankArguments(o, runDir);
  // Every signal goes to the ranks (as SIGINT: they checkpoint after the same
  // step and stop); this process waits for them and exits with 130 or 143.
  setPhase({
    doing: `training on ${n} ranks`,
    intact: `the last checkpoint in ${runDir} is intact`,
    next: `continue with: lade train --resume ${runDir} --nproc-per-node ${n}`,
    onSignal: () => true,
  });
  const result = await launchLocal({
    nprocPerNode: n,
    signals: onEverySignal,
    args,
    // After one rank has finished, the others (rank 0 writes the report) get this long.
    timeoutSeconds: Math.max(timeoutSeconds, 600),
  });
  if (!result.success) {
    // A rank that exits with lade's error statuses (1, 2) has said why in one
    // line already (a peer that hung, a full disk): a second line would only
    // repeat that it failed. A rank killed or crashed said nothing: the
    // launcher says it.
    const failed = result.failedRank === undefined ? undefined : result.ranks[result.failedRank];
    const said = failed !== undefined && failed.signal === null &&
      (failed.code === 1 || failed.code === 2);
    if (result.interrupted === undefined && !said) console.error(`lade: error: ${result.message}`);
    // Stopped by a signal: its status (130 or 143), whatever the ranks said.
    if (result.interrupted !== undefined) {
      exitOnSignal(result.interrupted === "SIGTERM" ? "SIGTERM" : "SIGINT");
    }
    Deno.exit(result.code);
  }
}
