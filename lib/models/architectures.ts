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
  "resnet18",
  "resnet34",
  "resnet50",
  "resnet101",
  "resnet152",
  "resnext50",
  "cnn28-sade",
  "resnet32-sade",
  "resnet10-sade",
  "resnet50-sade",
  "resnext50-sade",
  "resnet152-sade",
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
  "resnet18": "ResNet-18 for ImageNet-sized images (torchvision's resnet18)",
  "resnet34": "ResNet-34 for ImageNet-sized images (torchvision's resnet34)",
  "resnet50": "ResNet-50 for ImageNet-sized images",
  "resnet101": "ResNet-101 for ImageNet-sized images",
  "resnet152": "ResNet-152 for ImageNet-sized images (the paper's Places-LT network)",
  "resnext50": "ResNeXt-50 for ImageNet-sized images (the paper's ImageNet-LT network)",
  "cnn28-sade":
    "cnn28 with three SADE experts: stages 1-2 shared, each expert its own stage 3, hidden layer and head",
  "resnet32-sade":
    "SADE's CIFAR ResNet-32: stem and stage 1 shared, three experts of stages 2-3 (24, 48 channels)",
  "resnet10-sade": "ResNet-10 with three SADE experts (stages 3-4 per expert, 192 and 384 planes)",
  "resnet50-sade": "ResNet-50 with three SADE experts (stages 3-4 per expert, 192 and 384 planes)",
  "resnext50-sade":
    "ResNeXt-50 with three SADE experts (SADE's ImageNet-LT network; stages 3-4 per expert)",
  "resnet152-sade":
    "ResNet-152 with three SADE experts at full width (SADE's Places-LT network: stages 3-4 " +
    "per expert, 256 and 512 planes, each startable from an ImageNet ResNet-152's)",
};

/**
 * Experts per architecture: the multi-expert networks (SADE's) return the
 * logits of each expert side by side, [N, experts * classes].
 */
export function architectureExperts(arch: Architecture): number {
  return arch.endsWith("-sade") ? 3 : 1;
}

/** The message for an architecture name lade does not build: it lists the valid ones. */
export function unknownArchitecture(name: string): string {
  return `unknown architecture '${name}' (use ${ARCHITECTURES.join(", ")})`;
}

/** Whether `name` is an architecture lade builds. */
export function isArchitecture(name: string): name is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(name);
}

/**
 * The architecture lade picks for images of `imageSize` pixels when none is
 * named; with `experts` 3, its multi-expert (SADE) variant.
 */
export function defaultArchitecture(imageSize: number, experts = 1): Architecture {
  const base = imageSize <= 28 ? "cnn28" : imageSize <= 64 ? "resnet32" : "resnet50";
  return experts === 1 ? base : `${base}-sade`;
}
