/**
 * lade's command line: wires the commands in lib/cli/ and nothing else. A
 * command's module is loaded when the command runs, so that the signal
 * listeners are in place within a few milliseconds of the start.
 *
 * @module
 */

import { Command, type OptionValues } from "@commander-js/extra-typings";
import { arrangeAllocator } from "./lib/cli/allocator.ts";
import {
  commanderExitCode,
  exitWithError,
  guardTerminalOutput,
  oneLine,
  printNativeNotices,
} from "./lib/cli/errors.ts";
import { commandLineArgs } from "./lib/cli/argv.ts";
import { checkFlags } from "./lib/cli/flag_checks.ts";
import { startLoadMeasure, useDefaultThreads } from "./lib/cli/threads.ts";
import {
  commandPhase,
  installSignalHandlers,
  launchedRank,
  otherRank,
  setPhase,
} from "./lib/cli/signals.ts";
import { distributedHelp, METHODS, methodsHelp, TRAIN_FLAGS } from "./lib/cli/help.ts";
import type { TrainEntryOptions } from "./lib/cli/train_seeds.ts";
import { VERSION } from "./lib/version.ts";

/**
 * The options `evaluate` and `estimate-prior` share: where the predictions
 * come from (a run, or logits made elsewhere), the source data for BBSE and
 * calibrated EM, the device and JSON output.
 */
function predictionInputs<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
) {
  return command
    .option("--run <dir>", "a training run directory")
    .option("--json", "print JSON")
    .option("--logits <file>", "external logits [N, C] (.npy) instead of --run")
    .option("--labels <file>", "labels [N] (.npy) of --logits")
    .option("--train-counts <file>", "training class counts (.npy or JSON array) of --logits")
    .option(
      "--model-method <name>",
      `training method of --logits, which decides the rules (${
        METHODS.join(", ")
      }; default softmax)`,
    )
    .option(
      "--calibration <kind>",
      "EM's calibration on labelled source data: bcts, ts or none (default bcts)",
    )
    .option(
      "--source-logits <file>",
      "labelled source logits (bbse, calibrated em) with --logits (.npy)",
    )
    .option("--source-labels <file>", "their labels (.npy)")
    .option("--device <device>", "device for --run predictions (default: the run's, if here)")
    .option("--checkpoint <which>", "with --run: last (default) or best (by validation top-1)")
    .option("--precision <p>", "on CUDA: bf16 or fp32 for --run predictions (default: the run's)");
}

/** A command's names from the top: ["data", "verify"]. */
function commandPath(command: Command | { name(): string; parent: unknown }): string[] {
  const names: string[] = [];
  for (
    let c = command as { name(): string; parent: unknown } | null;
    c && (c as { parent: unknown }).parent;
    c = (c as { parent: { name(): string; parent: unknown } | null }).parent
  ) {
    names.unshift(c.name());
  }
  return names;
}

/** Builds the command tree. */
export function buildProgram(): Command {
  const program = new Command()
    .name("lade")
    .description("Long-tailed classification under label shift (LADE, CVPR 2021) on libtorch")
    .version(VERSION)
    // commander's usage errors as lade's one line: its suggestion ("(Did you
    // mean --epochs?)", on a line of its own) joined on.
    .configureOutput({ outputError: (str, write) => write(`lade: ${oneLine(str)}\n`) })
    .exitOverride()
    // Empty values and contradicting flags, before any command runs.
    .hook("preAction", (_program, action) => {
      const flagOf = (key: string) =>
        action.options.find((o) => o.attributeName() === key)?.long ?? `--${key}`;
      const raw = (_program as unknown as { rawArgs?: string[] }).rawArgs ?? commandLineArgs();
      checkFlags(action.opts(), raw, flagOf);
      // Training chooses its threads itself (and revises them as it runs).
      if (commandPath(action)[0] !== "train") useDefaultThreads();
      // What a signal says until the command says more (commands that write do).
      setPhase(commandPhase(commandPath(action)));
    });

  program
    .command("info")
    .description("versions, devices, threads and the native library in use")
    .option("--json", "print JSON")
    .action(async (options) => (await import("./lib/cli/info.ts")).infoCommand(options));

  // ---- data commands (lib/cli/data_inspect.ts) ----
  const data = program.command("data").description("datasets: formats, long-tail counts, shifts");
  data
    .command("inspect")
    .description("per-class training and test counts after the long-tail construction, shot groups")
    .requiredOption(
      "--dataset <name>",
      "fashion-mnist, mnist, cifar10, cifar100, image-list, image-folder, -lt",
    )
    .option("--root <dir>", "folder of the data files (image-folder: holds train/ and test/)")
    .option("--imbalance <R>", "head-to-tail ratio R >= 1 (default 100 for -lt names, else 1)")
    .option("--imbalance-type <type>", "exp or step (default exp)")
    .option("--seed <n>", "seed of the long-tail selection (default 0)")
    .option("--shift <name>", "test counts under a target shift: uniform, forward10, ...")
    .option("--train-list <file>", "image-list: the training list")
    .option("--test-list <file>", "image-list: the test list")
    .option("--image-root <dir>", "image-list: folder the listed paths are relative to")
    .option("--image-size <px>", "image-list: side of the batch images (default 224)")
    .option("--skip-bad-images", "image-list: skip unreadable images with a warning")
    .option("--classes <n>", "image-list: the number of classes (default: largest label + 1)")
    .option("--allow-outside-root", "image-list: read listed paths that lead outside the root")
    .option(
      "--max-image-pixels <n>",
      "refuse images of more pixels (default 89478485, Pillow's limit)",
    )
    .option("--json", "print JSON")
    .action(async (options) =>
      (await import("./lib/cli/data_inspect.ts")).dataInspectCommand(options)
    );
  data
    .command("verify")
    .description(
      "decode every image as training would; list those that fail (inspect reads headers)",
    )
    .requiredOption(
      "--dataset <name>",
      "fashion-mnist, mnist, cifar10, cifar100, image-list, image-folder",
    )
    .option("--root <dir>", "folder of the data files (image-folder: holds train/ and test/)")
    .option("--train-list <file>", "image-list: the training list")
    .option("--test-list <file>", "image-list: the test list")
    .option("--image-root <dir>", "image-list: folder the listed paths are relative to")
    .option("--classes <n>", "image-list: the number of classes (default: largest label + 1)")
    .option("--allow-outside-root", "image-list: read listed paths that lead outside the root")
    .option(
      "--max-image-pixels <n>",
      "refuse images of more pixels (default 89478485, Pillow's limit)",
    )
    .option("--json", "print JSON")
    .action(async (options) =>
      (await import("./lib/cli/data_verify.ts")).dataVerifyCommand(options)
    );
  // (end of data commands)

  // ---- train command (lib/cli/train.ts; its flags: lib/config/train_flags.ts) ----
  const train = program
    .command("train")
    .description("train a model (default: Fashion-MNIST-LT, R = 100, LADE)");
  for (const f of TRAIN_FLAGS) {
    train.option(f.value === undefined ? f.flag : `${f.flag} ${f.value}`, f.help);
  }
  train
    .addHelpText("after", methodsHelp() + distributedHelp())
    .action(async (options) =>
      (await import("./lib/cli/train_seeds.ts")).trainEntry(options as TrainEntryOptions)
    );
  // (end of train command)

  // ---- evaluation commands (lib/cli/evaluate.ts, lib/cli/estimate_prior.ts) ----
  predictionInputs(
    program
      .command("evaluate")
      .description("accuracy and calibration on shifted test sets, per prediction rule")
      .option("--shift <name>", "uniform (default), forwardR, backwardR, or all (the paper's grid)")
      .option(
        "--shift-file <file>",
        "JSON shifted sets instead of --shift: per-class test counts or sample indices",
      )
      .option(
        "--prior <mode>",
        "target prior: known, em, bbse or all (known + estimates)",
        "known",
      ),
  )
    .option("--report <dir>", "write the report here (default: DIR/report for --run)")
    .option("--no-report", "do not write a report")
    .option("--export-npy <dir>", "also write logits.npy, labels.npy, train_counts.npy")
    .option("--force", "replace files already in --report or --export-npy (never a run's own)")
    .option("--tta-epochs <n>", "SADE runs: epochs of test-time aggregation (default 5; 0: none)")
    .option("--tta-lr <x>", "SADE runs: learning rate of the test-time aggregation (default 0.1)")
    .option(
      "--online <schedule>",
      "online label shift: monotone, square, sinusoidal, bernoulli, all, or a .csv/.json file " +
        "of marginals (one row per round)",
    )
    .option("--rounds <T>", "--online: rounds (default 500, or the file's rows)")
    .option("--per-round <n>", "--online: test images per round (default 10)")
    .option(
      "--methods <list>",
      "--online: methods, comma-separated (none, oracle, em-window, em-online, fth, flh-ftl, " +
        "uogd, atlas; default all that apply; none and oracle always run)",
    )
    .option("--seed <s>", "--online: seed of the stream (default 0)")
    .option("--estimator <name>", "--online: per-round estimate, em (default) or bbse")
    .option(
      "--online-from <marginal>",
      "--online: where q_t starts: uniform (default), train, reversed, onehot:K",
    )
    .option(
      "--online-to <marginal>",
      "--online: where q_t goes: reversed (default), uniform, train, onehot:K",
    )
    .option("--period <P>", "--online square/sinusoidal: period in rounds (default sqrt(T))")
    .option("--flip-prob <p>", "--online bernoulli: flip probability per round (default 1/sqrt(T))")
    .action(async (options) => (await import("./lib/cli/evaluate.ts")).evaluateCommand(options));

  predictionInputs(
    program
      .command("estimate-prior")
      .description("estimate a shifted test set's class prior from unlabelled predictions")
      .requiredOption("--shift <name>", "the shifted test set (uniform, forwardR, backwardR)")
      .option("--method <name>", "em or bbse", "em"),
  )
    .action(async (options) => {
      await (await import("./lib/cli/estimate_prior.ts")).estimatePriorCommand(options);
    });

  program
    .command("compare")
    .description(
      "several runs over the shift grid, target prior known, estimated (EM, BBSE) and not used; " +
        "seeds aggregated as mean ± std",
    )
    .argument("<runs...>", "run directories, seed-group folders or evaluate --json files")
    .option("--json", "print JSON")
    .option("--markdown", "print Markdown tables")
    .option("--wide", "one table of every variant (the prior sections side by side)")
    .option("--out <dir>", "write the comparison here (tables, comparison.json, SVG plots)")
    .option("--force", "replace the files of an earlier comparison in --out")
    .option("--prior <mode>", "target priors: known, em, bbse or all", "all")
    .option("--calibration <kind>", "EM's calibration on labelled source data: bcts, ts or none")
    .option("--shift-file <file>", "JSON shifted sets instead of the paper's grid")
    .option("--device <device>", "device for the runs' predictions")
    .option("--precision <p>", "on CUDA: bf16 or fp32")
    .action(async (runs, options) =>
      (await import("./lib/cli/compare.ts")).compareCommand(runs, options)
    );
  // (end of evaluation commands)

  // ---- weights and predict (lib/cli/weights.ts, lib/cli/predict.ts) ----
  const weights = program
    .command("weights")
    .description("model weights in and out: safetensors, PyTorch state dicts");
  weights
    .command("export")
    .description("a run's model weights as safetensors (torchvision names for torchvision nets)")
    .argument("<run>", "the run directory")
    .option("--out <file>", "the .safetensors file to write (--format pytorch: a folder or F.pt)")
    .option("--checkpoint <which>", "last (default) or best (by validation top-1)")
    .option(
      "--format <f>",
      "safetensors (default) or pytorch: a torch.save state dict and a module file (torch only)",
    )
    .option("--force", "replace --out if it exists (never a file a run manages)")
    .action(async (run, options) =>
      (await import("./lib/cli/weights.ts")).weightsExportCommand(run, options)
    );
  weights
    .command("convert")
    .description("a PyTorch state dict (or safetensors) through a lade model to lade's safetensors")
    .argument("<file>", "a .pth, .pt or .safetensors file")
    .option("--out <file>", "the .safetensors file to write")
    .option("--force", "replace --out if it exists (never a file a run manages)")
    .option("--arch <name>", "the architecture (default: the file's metadata)")
    .option("--classes <n>", "the class count (default: the file's)")
    .action(async (file, options) =>
      (await import("./lib/cli/weights.ts")).weightsConvertCommand(file, options)
    );
  weights
    .command("inspect")
    .description("names, dtypes, shapes and metadata of a safetensors or PyTorch weights file")
    .argument("<file>", "a .safetensors, .pth or .pt file")
    .option("--json", "print JSON")
    .action(async (file, options) =>
      (await import("./lib/cli/weights.ts")).weightsInspectCommand(file, options)
    );
  program
    .command("stage2")
    .description("a decoupled second stage on a run's classifier: tau-norm or lws, as a new run")
    .option("--run <dir>", "the trained first-stage run")
    .option(
      "--method <name>",
      "tau-norm (w_c / |w_c|^tau, no bias) or lws (learned per-class scales)",
    )
    .option("--out <dir>", "the new run's directory")
    .option("--tau <t>", "tau-norm: the exponent (default: chosen on the run's validation split)")
    .option("--epochs <n>", "lws: epochs of class-balanced sampling (default 10)")
    .option("--lr <x>", "lws: learning rate (default: the run's)")
    .option("--batch-size <b>", "lws: batch size (default: the run's)")
    .option("--device <device>", "cpu (default) or cuda:N")
    .action(async (options) => (await import("./lib/cli/stage2.ts")).stage2Command(options));
  program
    .command("predict")
    .description("top-k classes of images or an .npy batch, under a target prior")
    .argument("[inputs...]", "image files (JPEG, PNG)")
    .option("--run <dir>", "a training run directory")
    .option("--weights <file>", "a weights file (safetensors or a PyTorch state dict)")
    .option("--checkpoint <which>", "with --run: last (default) or best (by validation top-1)")
    .option("--arch <name>", "with --weights: the architecture (default: the file's metadata)")
    .option("--classes <n>", "with --weights: the class count (default: the file's)")
    .option("--list <file>", "a file of image paths, one per line (relative to its folder)")
    .option("--dir <dir>", "every JPEG and PNG image in a folder (and its subfolders)")
    .option("--npy <file>", "a batch [N, C, H, W]: uint8 pixels, or float32 already normalised")
    .option("--topk <k>", "classes shown per input (default 5)")
    .option("--prior <p>", "target prior: uniform, train, em, or a JSON file of C numbers")
    .option(
      "--train-counts <file>",
      "with --weights: training class counts (.npy or JSON array) for weights that lack them",
    )
    .option("--skip-bad-images", "skip unreadable images with a warning")
    .option("--save-logits <file>", "also write the raw logits [N, C] as .npy")
    .option("--force", "replace --save-logits if it exists (never a file a run manages)")
    .option("--device <device>", "cpu (default) or cuda:N")
    .option("--json", "print JSON")
    .action(async (inputs, options) =>
      (await import("./lib/cli/predict.ts")).predictCommand(inputs, options)
    );

  return program as unknown as Command;
}

/**
 * Runs lade's command line on `args`: the allocator first (a re-execution
 * in place, within milliseconds, before libtorch is loaded), the start of
 * the load measure that chooses the threads, the signal listeners next (so
 * that Ctrl-C is answered from the first moment), then the command; then
 * exits.
 */
export async function main(args: readonly string[]): Promise<never> {
  arrangeAllocator();
  startLoadMeasure();
  installSignalHandlers({ quiet: otherRank(), defaultTerm: launchedRank() });
  guardTerminalOutput();
  printNativeNotices();
  try {
    await buildProgram().parseAsync([...args], { from: "user" });
  } catch (error) {
    // commander has already printed its own usage message.
    // (Only commander's errors have a string code starting "commander."; a
    // DOMException's code is a number.)
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === "string" && code.startsWith("commander.")) {
      Deno.exit(commanderExitCode(code, (error as { exitCode?: number }).exitCode));
    }
    exitWithError(error);
  }
  // Exit here rather than when the event loop runs dry: Deno's own shutdown
  // drops the signal listeners while the process still runs, and a Ctrl-C in
  // that moment would end it by the default action, unanswered.
  Deno.exit();
}

if (import.meta.main) await main(commandLineArgs());
