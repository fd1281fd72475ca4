/**
 * The architectures lade builds, in one list: their names (as the native
 * factory in native/src/model_api.cpp knows them; tests/models/
 * architectures_test.ts checks the two against each other), a line of help
 * each, and the default for an image size. Adding a network is its C++
 * module, its row in the native table, and its entry here.
 *
 * @module
 */

/** The architecture names, in the order help texts list them. */
export const ARCHITECTURES = [
  "cnn28",
  "resnet32",
  "resnet32-2branch",
  "resnet32-proj",
  "resnet32-2branch-proj",
  "resnet10",
  "resnet50",
  "resnet101",
  "resnet152",
  "resnext50",
] as const;

/** An architecture name. */
export type Architecture = typeof ARCHITECTURES[number];

/** One line of help for each architecture. */
export const ARCHITECTURE_HELP: Readonly<Record<Architecture, string>> = {
  "cnn28": "small CNN for 28-pixel images (Fashion-MNIST, MNIST)",
  "resnet32": "ResNet-32 for 32-pixel images (CIFAR), the official network: option-A shortcuts",
  "resnet32-2branch":
    "ResNet-32 whose last block is two parallel branches (BBN's; the official LADE CIFAR network)",
  "resnet32-proj": "ResNet-32 with 1x1-convolution projection shortcuts (option B)",
  "resnet32-2branch-proj": "the two-branch ResNet-32 with projection shortcuts (option B)",
  "resnet10": "ResNet-10 for ImageNet-sized images",
  "resnet50": "ResNet-50 for ImageNet-sized images",
  "resnet101": "ResNet-101 for ImageNet-sized images",
  "resnet152": "ResNet-152 for ImageNet-sized images (the paper's Places-LT network)",
  "resnext50": "ResNeXt-50 for ImageNet-sized images (the paper's ImageNet-LT network)",
};

/** Whether `name` is an architecture lade builds. */
export function isArchitecture(name: string): name is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(name);
}

/** The architecture lade picks for images of `imageSize` pixels when none is named. */
export function defaultArchitecture(imageSize: number): Architecture {
  if (imageSize <= 28) return "cnn28";
  if (imageSize <= 64) return "resnet32";
  return "resnet50";
}
