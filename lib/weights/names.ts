/**
 * The names lade's weights go by outside lade. For the torchvision
 * architectures (ResNet-18, -34, -50, -101, -152, ResNeXt-50 32x4d, and ResNet-10,
 * which torchvision builds as ResNet(BasicBlock, [1, 1, 1, 1])) they are
 * torchvision's state-dict names, so that
 * `torchvision.models.resnet50(num_classes=C).load_state_dict(...)` takes
 * them with `strict=True`; lade's own networks (cnn28, the CIFAR ResNet-32s)
 * keep lade's names (`backbone.*`, `head.*`).
 *
 * The native module tree registers modules in torchvision's order, so the
 * state-dict order matches too; only these names differ:
 *
 * | lade                                | torchvision                          |
 * | ----------------------------------- | ------------------------------------ |
 * | `backbone.conv1.weight`             | `conv1.weight`                       |
 * | `backbone.layer1.0.down_conv.weight`| `layer1.0.downsample.0.weight`       |
 * | `backbone.layer1.0.down_bn.*`       | `layer1.0.downsample.1.*`            |
 * | `head.weight`, `head.bias`          | `fc.weight`, `fc.bias`               |
 *
 * @module
 */

/** The architectures whose weights carry torchvision's names. */
export const TORCHVISION_ARCHITECTURES: readonly string[] = [
  "resnet10",
  "resnet18",
  "resnet34",
  "resnet50",
  "resnet101",
  "resnet152",
  "resnext50",
];

/** Whether `arch`'s weights carry torchvision's names. */
export function usesTorchvisionNames(arch: string): boolean {
  return TORCHVISION_ARCHITECTURES.includes(arch);
}

/** The name a lade state entry (`backbone.layer1.0.down_bn.weight`) has outside lade. */
export function externalName(arch: string, name: string): string {
  if (!usesTorchvisionNames(arch)) return name;
  if (name.startsWith("head.")) return `fc.${name.slice("head.".length)}`;
  return name
    .replace(/^backbone\./, "")
    .replace(/\.down_conv\./, ".downsample.0.")
    .replace(/\.down_bn\./, ".downsample.1.");
}

/** Whether a lade state entry belongs to the classifier head. */
export function isHeadName(name: string): boolean {
  return name.startsWith("head.");
}

/**
 * For a SADE network built on a torchvision architecture (`resnet152-sade`
 * on ResNet-152), the single network's name (torchvision's) an entry takes
 * its initial value from: the shared stem and stages 1-2 their own names,
 * every expert's stages 3 and 4 the single network's stages 3 and 4 (as
 * SADE's official `init_weights` starts Places-LT's experts from one
 * pretrained ResNet-152). Undefined for the heads, which a single network's
 * classifier cannot start, and for other architectures.
 */
export function singleNetworkName(arch: string, name: string): string | undefined {
  if (!arch.endsWith("-sade") || !usesTorchvisionNames(arch.slice(0, -"-sade".length))) {
    return undefined;
  }
  if (isHeadName(name)) return undefined;
  return externalName(arch.slice(0, -"-sade".length), name.replace(/\.experts\.\d+\./, "."));
}
