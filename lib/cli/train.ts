/**
 * `lade train`: resolve the configuration (embedded default, recipe file,
 * flags), pick the run directory, train with Ctrl-C writing a checkpoint,
 * and print the result on the uniform test set.
 *
 * @module
 */

import { printWarning, UsageError } from "./errors.ts";
import { evaluateCommand } from "./evaluate.ts";
import { METHOD_REGISTRY, METHODS } from "../losses/methods.ts";
import { readManifest } from "../train/checkpoint.ts";
import {
  type ConfigOverrides,
  readConfigFile,
  resolveConfig,
  type TrainConfig,
  validateConfig,
} from "../train/config.ts";
import { train, type TrainResult } from "../train/trainer.ts";

export { METHODS };

/** The methods, a line each (from the method registry), for the help of `train`. */
export function methodsHelp(): string {
  const width = Math.max(...METHODS.map((m) => m.length));
  return "\nMethods:\n" +
    METHOD_REGISTRY.map((m) => `  ${m.name.padEnd(width)}  ${m.help}`).join("\n");
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
  valPerClass?: string;
  imbalance?: string;
}

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
    valPerClass: num("--val-per-class", o.valPerClass),
    imbalance: num("--imbalance", o.imbalance),
  };
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
    ["valPerClass", "--val-per-class"],
    ["imbalance", "--imbalance"],
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
  if ((await readManifest(runDir).catch(() => null)) !== null) {
    throw new UsageError(
      `--out ${runDir} already holds a run; continue it with --resume ${runDir} or choose another --out`,
    );
  }
  return { config, runDir };
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

/** Runs `train`. */
export async function trainCommand(o: TrainCommandOptions): Promise<void> {
  const flags = parseFlags(o);
  const { config, runDir } = o.resume !== undefined
    ? await resumeSetup(o, flags)
    : await freshSetup(o, flags);

  // First Ctrl-C: finish the current step, write a checkpoint, exit. Second: exit at once.
  const stop = { requested: false };
  const onInterrupt = () => {
    if (stop.requested) {
      console.error("lade: interrupted again; exiting without a checkpoint");
      Deno.exit(130);
    }
    stop.requested = true;
    console.error("\nlade: stopping after this step to write a checkpoint (Ctrl-C again to quit)");
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  let result: TrainResult;
  try {
    result = await train(config, {
      runDir,
      resume: o.resume !== undefined,
      stop,
      log: (line) => console.log(line),
      tty: Deno.stdout.isTerminal(),
      onWarning: printWarning,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  if (result.interrupted) {
    console.log(`checkpoint in ${runDir}; continue with: lade train --resume ${runDir}`);
    Deno.exit(130);
  }
  printResult(result);
  // End with the shift grid, as the paper reports it (and the run's report).
  await evaluateCommand({ run: runDir, shift: "all" });
}
