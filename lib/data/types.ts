/**
 * The shapes lib/data hands to training and evaluation (see the contract in
 * design.md): image sets, dataset splits and load options.
 *
 * @module
 */

import type { ImbalanceType } from "./long_tail.ts";

/** One split of a dataset: images kept in native memory (uint8), labels on the host. */
export interface ImageSet {
  /** Number of samples. */
  readonly size: number;
  /** Class index per sample. */
  readonly labels: Int32Array;
  /** 1 or 3. */
  readonly channels: number;
  /** Side of the images a batch yields (28, 32, 224). */
  readonly imageSize: number;
  /** A view of some samples (positions in this set); shares the native images. */
  subset(indices: Int32Array): ImageSet;
  /** Frees this view's native handle (other views stay valid). */
  dispose(): void;
}

/** A dataset after the long-tail construction. */
export interface DataSplits {
  /** The dataset name as given, e.g. `fashion-mnist-lt`. */
  name: string;
  /** Number of classes. */
  classes: number;
  /** A name per class. */
  classNames: string[];
  /** The training split after the long-tail construction. */
  train: ImageSet;
  /** The full (balanced) test split, in file order. */
  test: ImageSet;
  /** Per-class training counts after the long-tail construction. */
  trainCounts: number[];
  /** Per-class counts of the test split. */
  testCounts: number[];
  /**
   * The labelled validation split, when the options ask for one
   * (`valPerClass` or `valList`): never trained on; what calibration, BBSE
   * and model selection use.
   */
  val?: ImageSet;
  /** Per-class counts of `val`. */
  valCounts?: number[];
  /** Where `val` came from, in words: "20 per class held out of the training split", a list path. */
  valSource?: string;
  /** The imbalance ratio R and type applied to the training split. */
  imbalance: { ratio: number; type: ImbalanceType };
  /** Per-channel normalisation mean (0..1 scale). */
  mean: number[];
  /** Per-channel normalisation standard deviation (0..1 scale). */
  std: number[];
  /** Frees the splits. */
  dispose(): void;
}

/** What loadDataset reads and how it builds the long tail. */
export interface LoadOptions {
  /** `fashion-mnist`, `mnist`, `cifar10`, `cifar100`, `image-list`, or any of them with `-lt`. */
  dataset: string;
  /** Folder of the data files (default: Debian's Fashion-MNIST for fashion-mnist). */
  root?: string;
  /** Head-to-tail ratio R >= 1 (default 100 for `-lt` names, else 1). */
  imbalance?: number;
  /** exp (default) or step. */
  imbalanceType?: ImbalanceType;
  /** Seed of the per-class selection (default 0). */
  seed?: number;
  /** image-list: the training list (default: train.txt or *_train.txt in root). */
  trainList?: string;
  /** image-list: the test list (default: test.txt, *_test.txt, val.txt or *_val.txt in root). */
  testList?: string;
  /** image-list: the folder the listed paths are relative to (default: root). */
  imageRoot?: string;
  /** image-list: a validation list (e.g. ImageNet_LT_val.txt); not with `valPerClass`. */
  valList?: string;
  /**
   * Hold out this many training images of every class (or, below 1, this
   * fraction of each class) as a labelled validation split, before the long
   * tail is built (see lib/data/validation.ts). Default: none.
   */
  valPerClass?: number;
  /** image-list: the side of the images a batch yields (default 224). */
  imageSize?: number;
  /**
   * image-list: drop unreadable images (with a warning) instead of failing.
   * Every image is then decoded once at load (headers alone miss corrupt data).
   */
  skipBadImages?: boolean;
  /**
   * image-list: the number of classes (default: the largest training label
   * plus one). Either way every class needs training images, and a label at
   * or beyond it is refused.
   */
  classes?: number;
  /**
   * image-list: read relative paths that lead outside the image root
   * (`../x`); refused otherwise. Absolute paths are always read as they are.
   */
  allowOutsideRoot?: boolean;
  /**
   * Images of more than this many pixels are refused before they are
   * decoded (default 89,478,485, Pillow's limit).
   */
  maxImagePixels?: number;
  /**
   * Per-channel normalisation mean and std (0..1 units), instead of the
   * dataset's own (recipes that reproduce another code base's choice, e.g.
   * the official LADE code normalises CIFAR-100 with CIFAR-10's statistics).
   */
  mean?: number[];
  /** See `mean`. */
  std?: number[];
  /**
   * Receives warnings (one line each, such as the images `skipBadImages`
   * dropped); the library never prints them itself. Default: ignored.
   */
  onWarning?: (message: string) => void;
}
