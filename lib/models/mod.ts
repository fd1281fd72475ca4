/**
 * lib/models: handles to the networks built in native/ (CNN for 28-pixel
 * images, ResNet-32 and its two-branch variant, ResNet-10/50, ResNeXt-50)
 * with linear or cosine heads.
 *
 * @module
 */

export {
  type Architecture,
  ARCHITECTURE_HELP,
  ARCHITECTURES,
  defaultArchitecture,
  isArchitecture,
} from "./architectures.ts";
export { type Head, HEADS, Model, type ModelOptions, type Precision } from "./model.ts";
