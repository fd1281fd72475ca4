/**
 * lib/weights: model weights in and out of lade. Safetensors read (validated
 * before any tensor is made) and written; PyTorch zip checkpoints read by a
 * restricted unpickler that runs no code; torchvision's names for the
 * torchvision architectures; strict or loose loading into a Model.
 *
 * @module
 */

export {
  decodeMetadata,
  encodeMetadata,
  exportWeights,
  type LoadOptions,
  type LoadReport,
  loadWeights,
  modelStateDict,
  readWeightsFile,
  spreadOverExperts,
  type WeightsFile,
  type WeightsMetadata,
} from "./model_weights.ts";
export {
  externalName,
  singleNetworkName,
  TORCHVISION_ARCHITECTURES,
  usesTorchvisionNames,
} from "./names.ts";
export { exportPytorch, type PytorchExportFiles, pytorchExportFiles } from "./pytorch_export.ts";
export { pytorchModuleSource } from "./pytorch_module.ts";
export { crc32, encodeTorchStateDict } from "./torch_save.ts";
export { findStateDict, parseTorchStateDict, readTorchPickle } from "./pytorch.ts";
export {
  encodeSafetensors,
  parseSafetensors,
  parseSafetensorsHeader,
  type RawTensor,
  readSafetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsHeader,
  writeSafetensors,
} from "./safetensors.ts";
