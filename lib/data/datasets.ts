/**
 * The datasets lade knows, where their files are, and `loadDataset`: read the
 * splits, then build the long tail of the training split.
 *
 * @module
 */

import { isAbsolute, join } from "node:path";
import { InputError } from "../errors.ts";
import { MAX_TEXT_BYTES, readInputText } from "../input_file.ts";
import { tensor } from "../torch/create.ts";
import { readCifar } from "./cifar.ts";
import { firstExisting } from "./files.ts";
import { readIdx } from "./idx.ts";
import { FileImageSet, TensorImageSet } from "./image_set.ts";
import { imageFolderFiles } from "./image_folder.ts";

export type { ImageFileGroup, ImageListFiles } from "./image_list.ts";
import { checkMaxPixels, DEFAULT_MAX_IMAGE_PIXELS } from "./image_io.ts";
import {
  escapesRoot,
  type ImageFileGroup,
  type ImageList,
  type ImageListFiles,
  probeImages,
  readImageList,
  verifyImages,
} from "./image_list.ts";
import {
  checkRatio,
  classCounts,
  type ImbalanceType,
  longTailCounts,
  longTailIndices,
} from "./long_tail.ts";
import type { DataSplits, ImageSet, LoadOptions } from "./types.ts";
import { checkValPerClass, holdOutPerClass } from "./validation.ts";

/** The largest image side an image-list dataset may ask for (batches are sized by it). */
export const MAX_IMAGE_SIZE = 4096;

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist";

/** The base dataset names (each also with `-lt`). */
export const DATASETS: readonly string[] = [
  "fashion-mnist",
  "mnist",
  "cifar10",
  "cifar100",
  "image-list",
  "image-folder",
];

/**
 * Whether a base dataset name is one of image files (JPEG, PNG) decoded when
 * batches are made: an image list or an image folder (224-pixel crops,
 * ImageNet's normalisation, colour jitter available).
 */
export function isImageFileDataset(base: string): boolean {
  return base === "image-list" || base === "image-folder";
}

const FASHION_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

const CIFAR10_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

// CIFAR-100's fine labels in label order (as in fine_label_names.txt).
const CIFAR100_CLASSES = (
  "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus " +
  "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch " +
  "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo " +
  "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse " +
  "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy " +
  "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper " +
  "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television " +
  "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split(" ");

/** Each dataset's per-channel normalisation (0..1 units): mean and std. */
export const NORMALISATION: Readonly<Record<string, { mean: number[]; std: number[] }>> = {
  "fashion-mnist": { mean: [0.2860], std: [0.3530] },
  "mnist": { mean: [0.1307], std: [0.3081] },
  "cifar10": { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010] },
  "cifar100": { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  // ImageNet's, as torchvision's pretrained networks expect.
  "image-list": { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  "image-folder": { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

/**
 * What a network trained on dataset `name` takes as input: image channels,
 * side and normalisation (the dataset's own unless `override` gives them),
 * without reading the data. `imageSize` is that of image files (image-list,
 * image-folder; default 224).
 */
export function datasetInput(
  name: string,
  override: { imageSize?: number; mean?: number[]; std?: number[] } = {},
): { channels: number; imageSize: number; mean: number[]; std: number[] } {
  const { base } = parseDatasetName(name);
  const norm = NORMALISATION[base];
  const channels = norm.mean.length;
  const imageSize = isImageFileDataset(base)
    ? override.imageSize ?? 224
    : base.endsWith("mnist")
    ? 28
    : 32;
  return {
    channels,
    imageSize,
    mean: [...(override.mean ?? norm.mean)],
    std: [...(override.std ?? norm.std)],
  };
}

/** A dataset name split into its base and whether it is the `-lt` variant. */
export interface DatasetName {
  base: string;
  lt: boolean;
}

/** Parses `cifar100-lt` and friends; an unknown name is an InputError listing the known ones. */
export function parseDatasetName(name: string): DatasetName {
  const lt = name.endsWith("-lt");
  const base = lt ? name.slice(0, -3) : name;
  if (!DATASETS.includes(base)) {
    throw new InputError(
      "dataset",
      `unknown dataset '${name}' (use ${DATASETS.join(", ")}, each also with -lt)`,
    );
  }
  return { base, lt };
}

/** The dataset's normalisation, or the one the options give (checked against its channels). */
function normalisation(
  data: { mean: number[]; std: number[]; train: ImageSet },
  opts: LoadOptions,
): { mean: number[]; std: number[] } {
  if (opts.mean === undefined && opts.std === undefined) return { mean: data.mean, std: data.std };
  const mean = opts.mean ?? data.mean, std = opts.std ?? data.std;
  const c = data.train.channels;
  for (const [name, v] of [["mean", mean], ["std", std]] as const) {
    if (v.length !== c || !v.every(Number.isFinite)) {
      throw new InputError(name, `needs ${c} finite values (one per channel), got [${v}]`);
    }
  }
  if (!std.every((x) => x > 0)) throw new InputError("std", `must be positive, got [${std}]`);
  return { mean: [...mean], std: [...std] };
}

/** A dataset's full splits before the long-tail construction. */
interface Balanced {
  classes: number;
  classNames: string[];
  train: ImageSet;
  test: ImageSet;
  /** image-list with `valList`: the validation list's images. */
  val?: ImageSet;
  mean: number[];
  std: number[];
}

async function idxFile(root: string, stem: string): Promise<string> {
  const gz = join(root, `${stem}.gz`);
  return (await firstExisting([gz, join(root, stem)])) ?? gz;
}

async function readIdxSplit(
  root: string,
  prefix: string,
  classes: number,
  source: string,
): Promise<TensorImageSet> {
  const imagesPath = await idxFile(root, `${prefix}-images-idx3-ubyte`);
  const labelsPath = await idxFile(root, `${prefix}-labels-idx1-ubyte`);
  const images = await readIdx(imagesPath, source);
  const labels = await readIdx(labelsPath, source);
  if (images.dims.length !== 3 || images.dims[1] !== images.dims[2]) {
    throw new InputError(`${imagesPath}: expected square images [N, S, S], got [${images.dims}]`);
  }
  if (labels.dims.length !== 1) {
    throw new InputError(`${labelsPath}: expected a label vector [N], got [${labels.dims}]`);
  }
  const [n, s] = images.dims;
  if (labels.dims[0] !== n) {
    throw new InputError(`${labelsPath} has ${labels.dims[0]} labels for ${n} images`);
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i];
    if (label >= classes) {
      throw new InputError(
        `${labelsPath}: label ${label} of sample ${i} outside the class range 0..${classes - 1}`,
      );
    }
    y[i] = label;
  }
  return new TensorImageSet(tensor(images.data, [n, 1, s, s]), y);
}

async function loadIdxDataset(base: string, rootOption: string | undefined): Promise<Balanced> {
  const fashion = base === "fashion-mnist";
  if (!fashion && rootOption === undefined) {
    throw new InputError(
      "root",
      "mnist needs a folder with train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), " +
        "t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)",
    );
  }
  const root = rootOption ?? FASHION_MNIST_ROOT;
  const source = fashion
    ? rootOption === undefined
      ? "install Debian's dataset-fashion-mnist or pass `root`"
      : "Fashion-MNIST's IDX files; pass `root` with the folder that holds them"
    : "MNIST's IDX files; pass `root` with the folder that holds them";
  const train = await readIdxSplit(root, "train", 10, source);
  try {
    const test = await readIdxSplit(root, "t10k", 10, source);
    return {
      classes: 10,
      classNames: fashion ? [...FASHION_CLASSES] : Array.from({ length: 10 }, (_, i) => `${i}`),
      train,
      test,
      ...NORMALISATION[fashion ? "fashion-mnist" : "mnist"],
    };
  } catch (e) {
    train.dispose();
    throw e;
  }
}

async function loadCifarDataset(base: string, rootOption: string | undefined): Promise<Balanced> {
  const ten = base === "cifar10";
  const folder = ten ? "cifar-10-batches-bin" : "cifar-100-binary";
  const root = rootOption ?? "data";
  const source = `download the ${ten ? "CIFAR-10" : "CIFAR-100"} binary version (${
    ten ? "cifar-10-binary.tar.gz" : "cifar-100-binary.tar.gz"
  }) from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass \`root\``;
  const marker = ten ? "test_batch.bin" : "test.bin";
  // Accept the unpacked folder itself or the folder that holds it.
  const dir = (await firstExisting([join(root, marker)])) ? root : join(root, folder);
  const format = ten
    ? { labelBytes: 1 as const, classes: 10 }
    : { labelBytes: 2 as const, classes: 100, coarseClasses: 20 };
  const trainFiles = ten
    ? [1, 2, 3, 4, 5].map((i) => join(dir, `data_batch_${i}.bin`))
    : [join(dir, "train.bin")];
  const train = await readCifar(trainFiles, format, source);
  let classNames = ten ? [...CIFAR10_CLASSES] : [...CIFAR100_CLASSES];
  const namesFile = await firstExisting([
    join(dir, ten ? "batches.meta.txt" : "fine_label_names.txt"),
  ]);
  if (namesFile) {
    const text = await readInputText(namesFile, { maxBytes: MAX_TEXT_BYTES, what: "class names" });
    const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "");
    if (names.length === format.classes) classNames = names;
  }
  const trainSet = new TensorImageSet(train.images, train.labels);
  try {
    const test = await readCifar([join(dir, ten ? "test_batch.bin" : "test.bin")], format, source);
    return {
      classes: format.classes,
      classNames,
      train: trainSet,
      test: new TensorImageSet(test.images, test.labels),
      ...NORMALISATION[ten ? "cifar10" : "cifar100"],
    };
  } catch (e) {
    trainSet.dispose();
    throw e;
  }
}

async function findList(root: string, kinds: readonly string[]): Promise<string | undefined> {
  for (const kind of kinds) {
    const exact = await firstExisting([join(root, `${kind}.txt`)]);
    if (exact) return exact;
    const matches: string[] = [];
    try {
      for await (const entry of Deno.readDir(root)) {
        if (entry.isFile && entry.name.toLowerCase().endsWith(`_${kind}.txt`)) {
          matches.push(join(root, entry.name));
        }
      }
    } catch {
      return undefined;
    }
    if (matches.length > 0) return matches.sort()[0];
  }
  return undefined;
}

/** The most classes an image list may have (a label beyond is a damaged list, not a class). */
export const MAX_CLASSES = 1_000_000;

/**
 * The class count of an image list: `declared` (`classes`) when given, every
 * label then below it; else the largest training label plus one. Either way
 * every class needs training images: a label far beyond the others (a typo,
 * a damaged list) is refused here, before anything is sized by it.
 */
function imageListClasses(
  train: ImageList,
  trainPath: string,
  declared: number | undefined,
): number {
  if (declared !== undefined) {
    if (!Number.isInteger(declared) || declared < 2 || declared > MAX_CLASSES) {
      throw new InputError(
        "classes",
        `must be an integer from 2 to ${MAX_CLASSES}, got ${declared}`,
      );
    }
  }
  let largest = 0;
  let where = 0;
  train.labels.forEach((y, i) => {
    if (y > largest) largest = y, where = i;
  });
  if (declared !== undefined && largest >= declared) {
    throw new InputError(
      "classes",
      `${trainPath}:${train.lines[where]}: label ${largest} is outside 0..${declared - 1} ` +
        `(${declared} classes declared)`,
    );
  }
  const seen = new Set(train.labels);
  const classes = declared ?? largest + 1;
  if (classes > MAX_CLASSES) {
    throw new InputError(
      `${trainPath}:${train.lines[where]}: label ${largest} would make ${largest + 1} classes, ` +
        `more than ${MAX_CLASSES}; labels are class indices 0..C-1`,
    );
  }
  if (seen.size < classes) {
    const missing: number[] = [];
    for (let c = 0; c < classes && missing.length < 3; c++) if (!seen.has(c)) missing.push(c);
    const why = declared === undefined
      ? `its largest label ${largest} (line ${train.lines[where]}) makes ${classes} classes, ` +
        `but only ${seen.size} of them have training images`
      : `${classes - seen.size} of the ${classes} declared classes have no training images`;
    throw new InputError(
      `${trainPath}: ${why} (none for class ${missing.join(", ")}${
        classes - seen.size > missing.length ? ", ..." : ""
      }); labels must be class indices 0..C-1, each with training images`,
    );
  }
  return classes;
}

/**
 * The splits of an image-file dataset, read and checked but not decoded:
 * an image folder's class folders (lib/data/image_folder.ts) or an image
 * list's lists (imageListFiles).
 */
export async function imageFiles(opts: LoadOptions): Promise<ImageListFiles> {
  if (parseDatasetName(opts.dataset).base !== "image-folder") return await imageListFiles(opts);
  // Options of image lists that an image folder has no use for: refused, not ignored.
  const listOnly: [keyof LoadOptions, string][] = [
    ["trainList", "the training split is ROOT/train"],
    ["testList", "the test split is ROOT/test or ROOT/val"],
    ["imageRoot", "images are read under ROOT"],
    ["classes", "the classes are the folders of ROOT/train"],
  ];
  for (const [key, why] of listOnly) {
    if (opts[key] !== undefined) {
      throw new InputError(key, `is for image-list; image-folder takes none (${why})`);
    }
  }
  return await imageFolderFiles(opts);
}

/**
 * Finds, reads and checks the lists of an image-list dataset (`root`, or
 * `trainList` and `testList`): labels and the class count, paths that lead
 * outside the image root. The images themselves are not read.
 */
export async function imageListFiles(opts: LoadOptions): Promise<ImageListFiles> {
  const root = opts.root;
  const layout = "a folder with train.txt and test.txt (or *_train.txt, *_test.txt / *_val.txt), " +
    "lines 'relative/path label', and the images";
  if (root === undefined && (opts.trainList === undefined || opts.testList === undefined)) {
    throw new InputError(
      "root",
      `image-list needs ${layout} (or both \`trainList\` and \`testList\`)`,
    );
  }
  const listRoot = root ?? ".";
  const source = `image-list expects ${layout}`;
  const trainPath = opts.trainList ?? await findList(listRoot, ["train"]);
  const testPath = opts.testList ?? await findList(listRoot, ["test", "val"]);
  if (trainPath === undefined) {
    throw new InputError(`missing data file ${join(listRoot, "train.txt")} (${source})`);
  }
  if (testPath === undefined) {
    throw new InputError(`missing data file ${join(listRoot, "test.txt")} (${source})`);
  }
  // A list the caller named is at fault under its own name (`trainList`).
  const read = (path: string, parameter: string | undefined) =>
    readImageList(path, source).catch((e) => {
      if (parameter === undefined || !(e instanceof InputError) || e.parameter !== undefined) {
        throw e;
      }
      throw new InputError(parameter, e.message, { cause: e });
    });
  const train = await read(trainPath, opts.trainList === undefined ? undefined : "trainList");
  const test = await read(testPath, opts.testList === undefined ? undefined : "testList");
  const val = opts.valList === undefined ? undefined : await read(opts.valList, "valList");
  const classes = imageListClasses(train, trainPath, opts.classes);
  for (const [list, path] of [[test, testPath], [val, opts.valList]] as const) {
    list?.labels.forEach((y, i) => {
      if (y >= classes) {
        throw new InputError(
          `${path}:${list.lines[i]}: label ${y} outside the class range 0..${classes - 1} ` +
            `of the training list`,
        );
      }
    });
  }
  const imageRoot = opts.imageRoot ?? listRoot;
  for (
    const [list, listPath] of [[train, trainPath], [test, testPath], [val, opts.valList]] as const
  ) {
    if (opts.allowOutsideRoot || list === undefined) continue;
    const i = list.paths.findIndex(escapesRoot);
    if (i >= 0) {
      throw new InputError(
        "imageRoot",
        `${listPath}:${list.lines[i]}: '${list.paths[i]}' leads outside the image root ` +
          `${imageRoot}; pass \`allowOutsideRoot\` if that is meant`,
      );
    }
  }
  const resolve = (p: string) => (isAbsolute(p) ? p : join(imageRoot, p));
  return {
    train: { listPath: trainPath, list: train, files: train.paths.map(resolve) },
    test: { listPath: testPath, list: test, files: test.paths.map(resolve) },
    ...(val && { val: { listPath: opts.valList!, list: val, files: val.paths.map(resolve) } }),
    classes,
  };
}

async function loadImageFileDataset(opts: LoadOptions): Promise<Balanced> {
  const files = await imageFiles(opts);
  const { classes } = files;
  const maxPixels = checkMaxPixels(opts.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS);
  const size = opts.imageSize ?? 224;
  if (!Number.isInteger(size) || size < 8 || size > MAX_IMAGE_SIZE) {
    throw new InputError(
      "imageSize",
      `must be an integer from 8 to ${MAX_IMAGE_SIZE}, got ${size}`,
    );
  }
  const threads = navigator.hardwareConcurrency;
  const checked = async (
    { list, listPath, files: paths, folder }: ImageFileGroup,
  ): Promise<FileImageSet> => {
    const probe = probeImages(paths, threads, maxPixels);
    if (probe.bad > 0 && !opts.skipBadImages) {
      throw new InputError(
        `${probe.firstError} (${folder ? "in" : "listed in"} ${listPath}; ` +
          `${probe.bad} unreadable image(s); ` +
          "pass `skipBadImages` to skip them)",
      );
    }
    if (!opts.skipBadImages) {
      return new FileImageSet(paths, list.labels, size, undefined, maxPixels);
    }
    // Skipping: every image is decoded now (headers alone miss corrupt data),
    // so that training never meets an image it cannot use.
    const good = probe.sizes.map((s) => s !== null);
    const candidates = paths.filter((_, i) => good[i]);
    const verdicts = await verifyImages(candidates, { threads, maxPixels });
    let firstError = probe.firstError;
    let k = 0;
    for (let i = 0; i < paths.length; i++) {
      if (!good[i]) continue;
      const why = verdicts[k++];
      if (why !== null) {
        good[i] = false;
        firstError ||= why;
      }
    }
    const keep: number[] = [];
    good.forEach((ok, i) => ok && keep.push(i));
    const bad = paths.length - keep.length;
    if (bad > 0) {
      opts.onWarning?.(
        `skipping ${bad} unreadable image(s) of ${listPath}, e.g. ${firstError}`,
      );
    }
    if (keep.length === 0) {
      throw new InputError(`${listPath}: none of its ${paths.length} images is readable`);
    }
    return new FileImageSet(paths, list.labels, size, Int32Array.from(keep), maxPixels);
  };
  return {
    classes,
    classNames: files.classNames ?? Array.from({ length: classes }, (_, i) => `${i}`),
    train: await checked(files.train),
    test: await checked(files.test),
    ...(files.val && { val: await checked(files.val) }),
    ...NORMALISATION["image-list"],
  };
}

/**
 * Loads a dataset and builds the long tail of its training split: R defaults
 * to 100 for `-lt` names and 1 otherwise; R = 1 keeps the training split as
 * it is. n_max is the training size over the number of classes, and a class
 * with fewer samples than its count keeps them all.
 *
 * @example A tiny image folder: two classes
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadDataset, writeImage } from "./mod.ts";
 * import { zeros } from "../torch/mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * using grey = zeros([3, 8, 8], { dtype: "uint8" });
 * for (const [split, n] of [["train", 3], ["test", 1]] as const) {
 *   for (const c of ["cat", "dog"]) {
 *     await Deno.mkdir(`${root}/${split}/${c}`, { recursive: true });
 *     for (let i = 0; i < n; i++) writeImage(grey, `${root}/${split}/${c}/${i}.png`);
 *   }
 * }
 * const data = await loadDataset({ dataset: "image-folder", root, imageSize: 8 });
 * assert.deepEqual(data.classNames, ["cat", "dog"]);
 * assert.deepEqual([data.trainCounts, data.testCounts], [[3, 3], [1, 1]]);
 * data.dispose();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadDataset(opts: LoadOptions): Promise<DataSplits> {
  const { base, lt } = parseDatasetName(opts.dataset);
  const ratio = opts.imbalance ?? (lt ? 100 : 1);
  checkRatio(ratio, "imbalance");
  const type: ImbalanceType = opts.imbalanceType ?? "exp";
  if (type !== "exp" && type !== "step") {
    throw new InputError("imbalanceType", `unknown imbalance type '${type}' (use exp or step)`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new InputError("seed", `must be a non-negative integer, got ${seed}`);
  }
  if (opts.valPerClass !== undefined) {
    checkValPerClass(opts.valPerClass);
    if (opts.valList !== undefined) {
      throw new InputError("valPerClass", "give either `valPerClass` or `valList`, not both");
    }
  }
  if (opts.valList !== undefined && base !== "image-list") {
    throw new InputError("valList", "a validation list needs the image-list dataset");
  }
  const data = isImageFileDataset(base)
    ? await loadImageFileDataset(opts)
    : base.startsWith("cifar")
    ? await loadCifarDataset(base, opts.root)
    : await loadIdxDataset(base, opts.root);
  // n_max is the full training split's, with or without a held-out part.
  const nMax = Math.floor(data.train.size / data.classes);
  let train = data.train;
  let val = data.val;
  let valSource = opts.valList;
  let norm: { mean: number[]; std: number[] };
  let trainCounts: number[];
  try {
    norm = normalisation(data, opts);
    if (opts.valPerClass !== undefined) {
      const parts = holdOutPerClass(train.labels, data.classes, opts.valPerClass, seed);
      val = train.subset(parts.val);
      const rest = train.subset(parts.rest);
      train.dispose();
      train = rest;
      valSource = opts.valPerClass < 1
        ? `${opts.valPerClass} of each class held out of the training split`
        : `${opts.valPerClass} per class held out of the training split`;
    }
    if (ratio !== 1) {
      const wanted = longTailCounts(nMax, data.classes, ratio, type);
      const keep = longTailIndices(train.labels, wanted, seed);
      const tail = train.subset(keep);
      train.dispose();
      train = tail;
    }
    // A class may be left with no training images here (data inspect shows
    // it); the trainer refuses to train so (a prior of 0).
    trainCounts = classCounts(train.labels, data.classes);
  } catch (e) {
    train.dispose();
    val?.dispose();
    data.test.dispose();
    throw e;
  }
  const test = data.test;
  return {
    name: opts.dataset,
    classes: data.classes,
    classNames: data.classNames.map(printableName),
    train,
    test,
    trainCounts,
    testCounts: classCounts(test.labels, data.classes),
    ...(val && { val, valCounts: classCounts(val.labels, data.classes), valSource }),
    imbalance: { ratio, type },
    ...norm,
    dispose() {
      train.dispose();
      test.dispose();
      val?.dispose();
    },
  };
}

/**
 * A class name as it may be printed: control characters (terminal escape
 * sequences among them) become U+FFFD and the name is cut at 200 characters.
 * Names come from dataset metadata, which nobody checked.
 */
export function printableName(name: string): string {
  // deno-lint-ignore no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "\ufffd");
  return clean.length > 200 ? `${clean.slice(0, 199)}\u2026` : clean;
}
