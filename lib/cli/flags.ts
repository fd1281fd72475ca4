/**
 * The command line's names for the library's parameters. Library errors
 * ({@link InputError}) name the parameter at fault as the library spells it
 * (`batchSize`, `root`, or a configuration key such as `train.batch_size`);
 * the command line says the flag that sets it (`--batch-size`). This table is
 * the one place that knows which flag sets which parameter.
 *
 * @module
 */

import type { InputError } from "../errors.ts";
import { configSource, flagGiven } from "./value_source.ts";
import { TRAIN_FLAGS } from "../config/train_flags.ts";

/** The recipe keys of where a run's data lies, which only `train` has flags for. */
const DATA_LOCATION_KEYS: ReadonlySet<string> = new Set([
  "dataset.root",
  "dataset.train_list",
  "dataset.test_list",
  "dataset.image_root",
  "dataset.imbalance_type",
]);

/** The flag that sets each library parameter or configuration key. */
export const PARAMETER_FLAGS: Readonly<Record<string, string>> = {
  // every recipe key a flag of train sets (the flag table, lib/config/train_flags.ts), but
  // where the data lies: another command (evaluate --run of a run whose data moved) has no
  // flag for that, so its messages name the key (train's own say the flag: train.ts)
  ...Object.fromEntries(
    TRAIN_FLAGS.flatMap((f) => (f.key && !DATA_LOCATION_KEYS.has(f.key) ? [[f.key, f.flag]] : [])),
  ),
  // data (loadDataset's options, `data inspect`)
  dataset: "--dataset",
  root: "--root",
  imbalance: "--imbalance",
  imbalanceType: "--imbalance-type",
  seed: "--seed",
  shift: "--shift",
  trainList: "--train-list",
  testList: "--test-list",
  imageRoot: "--image-root",
  imageSize: "--image-size",
  skipBadImages: "--skip-bad-images",
  classes: "--classes",
  "dataset.classes": "--classes",
  allowOutsideRoot: "--allow-outside-root",
  "dataset.allow_outside_root": "--allow-outside-root",
  maxImagePixels: "--max-image-pixels",
  // training: configuration keys and the options of the library functions
  method: "--method",
  alpha: "--alpha",
  lambda: "--lambda",
  epochs: "--epochs",
  batchSize: "--batch-size",
  lr: "--lr",
  device: "--device",
  threads: "--threads",
  precision: "--precision",
  arch: "--arch",
  "train.early_stop": "--early-stop",
  checkpoint: "--checkpoint",
  valPerClass: "--val-per-class",
  expertLambdas: "--expert-lambdas",
  config: "--config",
  out: "--out",
  resume: "--resume",
  checkpointEvery: "--checkpoint-every",
  // distributed training
  backend: "--backend",
  timeoutSeconds: "--dist-timeout",
  nprocPerNode: "--nproc-per-node",
  // evaluation
  run: "--run",
  runDir: "--run",
  prior: "--prior",
  report: "--report",
  calibration: "--calibration",
  logits: "--logits",
  labels: "--labels",
  trainCounts: "--train-counts",
  modelMethod: "--model-method",
  // stage2
  tau: "--tau",
  sourceLogits: "--source-logits",
  sourceLabels: "--source-labels",
  ttaEpochs: "--tta-epochs",
  ttaLr: "--tta-lr",
  // online label shift (evaluate --online)
  schedule: "--online",
  marginals: "--online",
  rounds: "--rounds",
  horizon: "--rounds",
  perRound: "--per-round",
  methods: "--methods",
  estimator: "--estimator",
  from: "--online-from",
  to: "--online-to",
  period: "--period",
  flipProbability: "--flip-prob",
};

/** The flag of `parameter` (an element of a list, `train.keep.0`, is its list's), or undefined. */
export function flagOf(parameter: string): string | undefined {
  const key = parameter.replace(/(\.\d+)+$/, "");
  return Object.hasOwn(PARAMETER_FLAGS, key) ? PARAMETER_FLAGS[key] : undefined;
}

/**
 * A library message (an error's or a warning's) in the command line's terms:
 * parameters it mentions in backticks (`` `root` ``) become their flags.
 * Names no flag sets are left as they are.
 */
export function flagText(text: string): string {
  return text.replace(/`([A-Za-z_][\w.]*)`/g, (whole, name: string) => flagOf(name) ?? whole);
}

/**
 * An InputError's message in the command line's terms: the leading
 * "parameter: " becomes "--flag: ", and parameters the message mentions in
 * backticks become their flags (see {@link flagText}).
 */
export function flagMessage(error: InputError, given?: readonly string[]): string {
  let text = error.message;
  const p = error.parameter;
  if (p !== undefined && text.startsWith(`${p}: `)) {
    const flag = flagOf(p);
    // With the command's arguments known, a configuration key whose flag the
    // user did not give is not blamed on that flag: its value came from a
    // recipe, a resumed run's config.yaml or the default, which is named
    // (with the flag that would set it). Other parameters keep their flag:
    // it is what supplies a missing value (`--root`).
    const rest = text.slice(p.length + 2);
    if (flag !== undefined && given !== undefined && p.includes(".") && !flagGiven(flag, given)) {
      text = `${configSource(p, given)}: ${p}: ${rest} (${flag} sets it)`;
    } else {
      text = `${flag ?? p}: ${rest}`;
    }
  }
  return flagText(text);
}
