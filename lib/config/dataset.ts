/**
 * What a configuration names, resolved against the data: the dataset it
 * loads (with errors in the configuration's own keys) and the architecture
 * it asks for.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { type DataSplits, loadDataset, type LoadOptions } from "../data/mod.ts";
import { METHOD_REGISTRY, methodExperts } from "../losses/mod.ts";
import { type Architecture, architectureExperts, defaultArchitecture } from "../models/mod.ts";
import type { TrainConfig } from "./config.ts";

/**
 * The architecture a config asks for, resolved against the data and the
 * method: "auto" picks the multi-expert variant for a multi-expert method
 * (SADE, BalPoE), and a network whose experts do not match the method's is an
 * InputError for `model.arch`.
 */
export function resolveArchitecture(config: TrainConfig, imageSize: number): Architecture {
  const experts = methodExperts(config.method.name);
  const arch = config.model.arch === "auto"
    ? defaultArchitecture(imageSize, experts)
    : config.model.arch;
  const has = architectureExperts(arch);
  if (has !== experts) {
    throw new InputError(
      "model.arch",
      experts > 1
        ? `method ${config.method.name} trains ${experts} experts but ${arch} has one ` +
          `(use auto or a multi-expert network such as ${defaultArchitecture(imageSize, experts)})`
        : `${arch} is a ${has}-expert network (for methods ${
          METHOD_REGISTRY.filter((m) => (m.experts ?? 1) === has).map((m) => m.name).join(", ")
        }); method ` +
          `${config.method.name} trains one`,
    );
  }
  return arch;
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
  classes: "dataset.classes",
  allowOutsideRoot: "dataset.allow_outside_root",
  maxImagePixels: "dataset.max_image_pixels",
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
    classes: d.classes,
    allowOutsideRoot: d.allow_outside_root,
    maxImagePixels: d.max_image_pixels,
    mean: d.mean,
    std: d.std,
    valPerClass: d.val_per_class,
    valList: d.val_list,
  };
}
