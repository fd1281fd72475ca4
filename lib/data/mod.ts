/**
 * lib/data: dataset formats (IDX, CIFAR binary, image lists), the long-tail
 * construction, shifted test sets, samplers and batches, and SADE's strong
 * test-time augmentation.
 *
 * @module
 */

export type { DataSplits, ImageSet, LoadOptions } from "./types.ts";
export {
  datasetInput,
  DATASETS,
  FASHION_MNIST_ROOT,
  isImageFileDataset,
  loadDataset,
  NORMALISATION,
  parseDatasetName,
} from "./datasets.ts";
export { type Batch, BatchLoader, type LoaderOptions } from "./batch_loader.ts";
export { classCounts, type ImbalanceType, longTailCounts, longTailIndices } from "./long_tail.ts";
export {
  parseShift,
  rankClasses,
  type Shift,
  SHIFT_GRID,
  shiftedCounts,
  shiftIndices,
} from "./shift.ts";
export { indicesForCounts, readShiftFile, type ShiftSet, shiftSetsFromJson } from "./shift_file.ts";
export { type ShotGroups, shotGroups } from "./shots.ts";
export { labelCount, type LabelsLike, labelTensor } from "./labels.ts";
export {
  epochOrder,
  epochSeed,
  type SamplerKind,
  samplerPrior,
  SAMPLERS,
  stepSeed,
} from "./sampler.ts";
export { betaSample, mixBatch, type MixedBatch, type MixOptions } from "./mix.ts";
export { FileImageSet, TensorImageSet } from "./image_set.ts";
export { checkValPerClass, heldOutCount, holdOutPerClass, validationSeed } from "./validation.ts";
export { type IdxArray, parseIdx, readIdx } from "./idx.ts";
export { type CifarData, type CifarFormat, readCifar } from "./cifar.ts";
export {
  type ImageFileGroup,
  type ImageList,
  type ImageListFiles,
  parseImageList,
  probeImages,
  readImageList,
} from "./image_list.ts";
export {
  compareCodePoints,
  DECODED_IMAGE_EXTENSIONS,
  imageFolderFiles,
  TORCHVISION_IMAGE_EXTENSIONS,
} from "./image_folder.ts";
export { prepareImage, readImage, writeImage } from "./image_io.ts";
export { strongAugment, type StrongAugmentInput, type StrongAugmentOptions } from "./augment.ts";
export {
  applyColorJitter,
  type ColorJitterDraw,
  colorJitterDraw,
  type ColorJitterStrength,
  colorJitterStrength,
} from "./color_jitter.ts";
