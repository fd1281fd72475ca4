/**
 * lib/models: handles to the networks built in native/ (CNN for 28-pixel
 * images, ResNet-32 and its two-branch variant, ResNet-10/50, ResNeXt-50,
 * and SADE's three-expert variants of them) with linear or cosine heads.
 *
 * @module
 */

export {
  type Architecture,
  ARCHITECTURE_HELP,
  architectureExperts,
  ARCHITECTURES,
  defaultArchitecture,
  isArchitecture,
  unknownArchitecture,
} from "./architectures.ts";
export { type Head, HEADS, Model, type ModelOptions, type Precision } from "./model.ts";
