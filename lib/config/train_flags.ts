/**
 * Every flag of `lade train`, declared once: its value, help text, the
 * recipe key it sets, whether `--resume` may change it, what a seed group
 * does with it, and whether lade's launcher hands it to its ranks. The
 * command line's options, the overrides a flag makes to the recipe, the
 * checks of `--resume`, the seed groups' and the launcher's flag lists and
 * the README's table are all made from this table (a test checks the
 * README's).
 *
 * @module
 */

import { METHODS } from "../losses/methods.ts";

/** How a flag's value is read. */
export type FlagKind =
  /** Text as given. */
  | "string"
  /** A finite number. */
  | "number"
  /** true or false. */
  | "bool"
  /** No value: present or not. */
  | "switch"
  /** Comma-separated words. */
  | "list"
  /** Comma-separated numbers. */
  | "numbers";

/** One flag of `train`. */
export interface TrainFlag {
  /** The flag: `--batch-size`. */
  flag: string;
  /** The option's name as the command line hands it over (camelCase: `batchSize`). */
  name: string;
  /** The value's placeholder in the help (`<b>`); none for a switch. */
  value?: string;
  /** What it does, in a line. */
  help: string;
  /** How its value is read. */
  kind: FlagKind;
  /**
   * The recipe key it sets (`train.batch_size`); none for a flag of the run
   * itself (`--out`, `--resume`, `--nproc-per-node`).
   */
  key?: string;
  /**
   * With `--resume`: `applied` (it may change as the run continues: the
   * hardware, the epochs) or `refused` (the run keeps its recipe).
   */
  resume: "applied" | "refused";
  /**
   * A seed group (`--seeds`, `--repeat`): `passed` to each seed's run (also
   * when the group is resumed), or `refused` with `--resume` of a group (the
   * recipe of a new group takes it; the group keeps it).
   */
  group: "passed" | "refused";
  /** Handed to the ranks by lade's launcher (`--nproc-per-node`). */
  forwarded: boolean;
}

function flag(
  spec: Omit<TrainFlag, "name" | "forwarded"> & { forwarded?: boolean },
): TrainFlag {
  const name = spec.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return { ...spec, name, forwarded: spec.forwarded ?? true };
}

/** A recipe flag: sets `key`, refused by `--resume`, part of a group's recipe. */
function recipe(
  f: string,
  value: string | undefined,
  kind: FlagKind,
  key: string | undefined,
  help: string,
): TrainFlag {
  return flag({ flag: f, value, kind, key, help, resume: "refused", group: "refused" });
}

/** A flag of the machine the run trains on: applied on `--resume`, given to every seed. */
function hardware(
  f: string,
  value: string | undefined,
  kind: FlagKind,
  key: string | undefined,
  help: string,
): TrainFlag {
  return flag({ flag: f, value, kind, key, help, resume: "applied", group: "passed" });
}

/** The flags of `train`, in the order of its help. */
export const TRAIN_FLAGS: readonly TrainFlag[] = [
  recipe(
    "--config",
    "<file>",
    "string",
    undefined,
    "YAML recipe (see configs/); flags override it",
  ),
  recipe(
    "--dataset",
    "<name>",
    "string",
    "dataset.name",
    "fashion-mnist(-lt), cifar10(-lt), cifar100(-lt), image-list(-lt), image-folder(-lt)",
  ),
  recipe("--method", "<name>", "string", "method.name", METHODS.join(", ")),
  recipe(
    "--arch",
    "<name>",
    "string",
    "model.arch",
    "the network (default auto: by image size; resnet18, resnet50, ...)",
  ),
  recipe(
    "--imbalance",
    "<R>",
    "number",
    "dataset.imbalance",
    "head-to-tail ratio R of the long tail (default: the recipe's, else 100 for -lt names, else 1)",
  ),
  recipe(
    "--imbalance-type",
    "<type>",
    "string",
    "dataset.imbalance_type",
    "exp or step (default exp)",
  ),
  recipe(
    "--root",
    "<dir>",
    "string",
    "dataset.root",
    "folder of the data files (mnist, cifar10, cifar100, image-list, image-folder)",
  ),
  recipe(
    "--train-list",
    "<file>",
    "string",
    "dataset.train_list",
    "image-list: the training list ('relative/path label' lines)",
  ),
  recipe("--test-list", "<file>", "string", "dataset.test_list", "image-list: the test list"),
  recipe(
    "--image-root",
    "<dir>",
    "string",
    "dataset.image_root",
    "image-list: folder the listed paths are relative to",
  ),
  flag({
    flag: "--epochs",
    value: "<n>",
    kind: "number",
    key: "train.epochs",
    help: "epochs (with --resume: train on to this many)",
    resume: "applied",
    group: "refused",
  }),
  recipe(
    "--batch-size",
    "<b>",
    "number",
    "train.batch_size",
    "batch size (with several ranks, the global batch)",
  ),
  recipe("--lr", "<x>", "number", "train.lr", "base learning rate"),
  recipe("--alpha", "<a>", "number", "method.alpha", "LADE: weight of LADER"),
  recipe("--lambda", "<l>", "number", "method.lambda", "LADE: REMINE regulariser weight"),
  recipe(
    "--expert-lambdas",
    "<list>",
    "numbers",
    "method.expert_lambdas",
    "BalPoE: one logit-adjustment lambda per expert (default 0,1,2; mean 1 is balanced)",
  ),
  recipe(
    "--mixup",
    "<alpha>",
    "number",
    "train.mixup",
    "mixup: blend each batch with a permutation, Beta(alpha, alpha)",
  ),
  recipe(
    "--cutmix",
    "<alpha>",
    "number",
    "train.cutmix",
    "CutMix: paste a box of a permuted batch, Beta(alpha, alpha)",
  ),
  hardware("--device", "<device>", "string", "device", "cpu or cuda:N"),
  hardware("--threads", "<n>", "number", "threads", "CPU threads (default: all cores)"),
  hardware(
    "--precision",
    "<p>",
    "string",
    "train.precision",
    "on CUDA: bf16 (default there) or fp32; the CPU runs fp32",
  ),
  hardware(
    "--cuda-graphs",
    "<mode>",
    "string",
    "train.cuda_graphs",
    "on CUDA: replay each step as a CUDA graph: auto, on or off",
  ),
  recipe(
    "--seed",
    "<s>",
    "number",
    "seed",
    "seed of the long tail, the initial weights and the batches",
  ),
  flag({
    flag: "--seeds",
    value: "<list>",
    kind: "string",
    help: "run the recipe once per seed (e.g. 0,1,2) into <out>/seed<S>, then compare them",
    resume: "refused",
    group: "refused",
    forwarded: false,
  }),
  flag({
    flag: "--repeat",
    value: "<n>",
    kind: "string",
    help: "like --seeds with the seeds s, s+1, ..., s+n-1",
    resume: "refused",
    group: "refused",
    forwarded: false,
  }),
  recipe(
    "--val-per-class",
    "<k>",
    "number",
    "dataset.val_per_class",
    "hold out k training images per class (or a fraction < 1) as a validation split",
  ),
  recipe(
    "--out",
    "<dir>",
    "string",
    undefined,
    "run directory, or the seeds' group folder (default: runs/<dataset>_<method>_<time>)",
  ),
  flag({
    flag: "--resume",
    value: "<dir>",
    kind: "string",
    help: "continue the run (or the seed group) in <dir> from its checkpoint",
    resume: "applied",
    group: "passed",
  }),
  recipe(
    "--keep",
    "<list>",
    "list",
    "train.keep",
    "checkpoints kept: last (default) or best,last (best by validation top-1; --val-per-class)",
  ),
  recipe(
    "--early-stop",
    "<n>",
    "number",
    "train.early_stop.patience",
    "stop after n epochs without a better validation top-1 (patience; --val-per-class)",
  ),
  hardware(
    "--tensorboard",
    undefined,
    "switch",
    "logs.tensorboard",
    "also write TensorBoard event files to <run>/tensorboard/",
  ),
  hardware(
    "--checkpoint-every",
    "<n|Nm>",
    "string",
    undefined,
    "also checkpoint inside epochs: every n steps (500) or N minutes (10m)",
  ),
  recipe(
    "--skip-bad-images",
    undefined,
    "switch",
    "dataset.skip_bad_images",
    "image-list: decode every image at load, skip unreadable ones",
  ),
  hardware(
    "--max-image-pixels",
    "<n>",
    "number",
    "dataset.max_image_pixels",
    "refuse images of more pixels (default 89478485, Pillow's limit)",
  ),
  recipe(
    "--init",
    "<file>",
    "string",
    "model.init",
    "initial weights: safetensors, a PyTorch state dict (.pth/.pt), or a run directory",
  ),
  recipe(
    "--init-skip",
    "<part>",
    "string",
    "model.init_skip",
    "with --init: leave the head as initialised (head or none)",
  ),
  recipe(
    "--init-strict",
    "<bool>",
    "bool",
    "model.init_strict",
    "with --init: every key must match (default true)",
  ),
  recipe(
    "--backbone-lr",
    "<x>",
    "number",
    "train.backbone_lr",
    "the backbone's learning rate (fine-tuning); the head keeps --lr",
  ),
  recipe("--freeze", "<part>", "string", "model.freeze", "train only the head: backbone (or none)"),
  recipe(
    "--sampler",
    "<name>",
    "string",
    "train.sampler",
    "shuffle, balanced (class-balanced, as cRT) or sqrt",
  ),
  recipe(
    "--lr-step",
    "<n>",
    "number",
    "train.schedule.step_size",
    "StepLR: multiply the rate by --lr-gamma every n epochs",
  ),
  recipe("--lr-gamma", "<g>", "number", "train.schedule.gamma", "StepLR's factor (default 0.1)"),
  flag({
    flag: "--nproc-per-node",
    value: "<n>",
    kind: "string",
    help:
      "start n local ranks of this command, data-parallel (--batch-size stays the global batch)",
    resume: "applied",
    group: "passed",
    forwarded: false,
  }),
  hardware(
    "--backend",
    "<name>",
    "string",
    undefined,
    "distributed: gloo or nccl (default: nccl on CUDA, gloo on the CPU)",
  ),
  hardware(
    "--dist-timeout",
    "<s>",
    "string",
    undefined,
    "distributed: seconds a rank waits for a hung peer or the rendezvous (default 120)",
  ),
];

/** The flag of `name` (camelCase), if `train` has one. */
export function trainFlag(name: string): TrainFlag | undefined {
  return TRAIN_FLAGS.find((f) => f.name === name);
}

/**
 * The value of a recipe key a flag's value stands for: a StepLR flag also
 * makes the schedule a step schedule.
 */
export function flagPatch(f: TrainFlag, value: unknown): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  if (f.key === undefined) return patch;
  const path = f.key.split(".");
  let node = patch;
  for (const part of path.slice(0, -1)) {
    node = (node[part] ??= {}) as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
  if (f.key.startsWith("train.schedule.")) {
    ((patch.train as Record<string, unknown>).schedule as Record<string, unknown>).type = "step";
  }
  return patch;
}

/** The README's table of the flags: flag, recipe key, with --resume, what it does. */
export function trainFlagsTable(): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = TRAIN_FLAGS.map((f) =>
    `| ${cell(`\`${f.flag}${f.value ? ` ${f.value}` : ""}\``)} | ${
      f.key ? `\`${f.key}\`` : "-"
    } | ${f.resume === "applied" ? "may change" : "refused"} | ${f.forwarded ? "yes" : "no"} | ${
      cell(f.help)
    } |`
  );
  return [
    "| flag | recipe key | with `--resume` | to the ranks | what it does |",
    "| ---- | ---------- | --------------- | ------------ | ------------ |",
    ...rows,
  ].join("\n");
}
