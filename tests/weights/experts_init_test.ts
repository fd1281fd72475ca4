import assert from "node:assert/strict";
import { Model } from "../../lib/models/mod.ts";
import { DTYPE_BYTES } from "../../lib/torch/dtype.ts";
import { loadWeights, spreadOverExperts } from "../../lib/weights/model_weights.ts";
import { singleNetworkName } from "../../lib/weights/names.ts";
import type { RawTensor } from "../../lib/weights/safetensors.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

// Bottleneck parameters counted by hand: 1x1, 3x3, 1x1 convolutions, each
// with a batch norm (2 per channel), and a 1x1 projection with its batch norm
// on a stage's first block.
const conv = (i: number, o: number, k = 3) => i * o * k * k;
const bn = (c: number) => 2 * c;
const bottleneck = (inC: number, planes: number, first: boolean) =>
  conv(inC, planes, 1) + bn(planes) + conv(planes, planes) + bn(planes) +
  conv(planes, 4 * planes, 1) + bn(4 * planes) +
  (first ? conv(inC, 4 * planes, 1) + bn(4 * planes) : 0);
const stage = (inC: number, planes: number, blocks: number) =>
  Array.from({ length: blocks }, (_, b) => bottleneck(b === 0 ? inC : 4 * planes, planes, b === 0))
    .reduce((a, x) => a + x, 0);

Deno.test("SADE's Places-LT network: the official parameter count, and every expert starts from one ImageNet ResNet-152", () => {
  const trunk = conv(3, 64, 7) + bn(64) + stage(64, 64, 3) + stage(256, 128, 8);
  const expert = stage(512, 256, 36) + stage(1024, 512, 3);
  // The formula gives torchvision's ResNet-152 (60,192,808 parameters at 1000 classes).
  assert.equal(trunk + expert + 2048 * 1000 + 1000, 60_192_808);
  // config_places_lt_resnet152_sade.json: ResNet152Model, reduce_dimension false,
  // share_layer3 false (stages 3 and 4 per expert), use_norm (NormedLinear, no bias).
  using model = Model.create({
    arch: "resnet152-sade",
    classes: 365,
    inChannels: 3,
    head: "cosine",
  });
  assert.equal(model.numParams, trunk + 3 * expert + 3 * 2048 * 365);

  // A single ResNet-152 state dict (torchvision's names and shapes, written by
  // torchvision: fixtures/torchvision_names.json), each tensor filled with its
  // own index, spread over the experts as SADE's init_weights(caffe=True) does.
  const entries = JSON.parse(Deno.readTextFileSync(`${FIXTURES}torchvision_names.json`))
    .resnet152 as [string, number[], "float32" | "int64"][];
  const single = new Map<string, RawTensor>();
  entries.forEach(([name, shape, dtype], k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Uint8Array(n * DTYPE_BYTES[dtype]);
    if (dtype === "float32") new Float32Array(data.buffer).fill(k);
    else new BigInt64Array(data.buffer).fill(BigInt(k));
    single.set(name, { dtype, shape, data });
  });
  const spread = spreadOverExperts(model, single)!;
  assert.ok(spread !== undefined);
  // The single network's classifier has no place in the experts (new heads).
  assert.ok(![...spread.keys()].some((k) => k.startsWith("fc.")));
  const report = loadWeights(model, spread, { source: "resnet152.pth", skipHead: true });
  assert.deepEqual([report.missing, report.unexpected, report.mismatched], [[], [], []]);
  assert.deepEqual(report.skipped, ["head.0.weight", "head.1.weight", "head.2.weight"]);
  // Each expert's stages 3 and 4 hold the single network's; the trunk its own.
  const index = new Map(entries.map(([name], k) => [name, k]));
  const names = model.stateNames();
  const tensors = model.stateTensors();
  try {
    const valueOf = (name: string) => {
      const t = tensors[names.indexOf(name)];
      return Number((t.narrow(0, 0, 1).flatten().toArray() as Float32Array)[0]);
    };
    for (const e of [0, 1, 2]) {
      for (
        const [mine, theirs] of [
          [`backbone.experts.${e}.layer3.0.down_conv.weight`, "layer3.0.downsample.0.weight"],
          [`backbone.experts.${e}.layer3.35.bn3.running_var`, "layer3.35.bn3.running_var"],
          [`backbone.experts.${e}.layer4.2.conv2.weight`, "layer4.2.conv2.weight"],
        ]
      ) {
        assert.equal(singleNetworkName(model.arch, mine), theirs);
        assert.equal(valueOf(mine), index.get(theirs), mine);
      }
    }
    assert.equal(valueOf("backbone.layer2.7.bn1.weight"), index.get("layer2.7.bn1.weight"));
    assert.equal(valueOf("backbone.conv1.weight"), index.get("conv1.weight"));
  } finally {
    for (const t of tensors) t.dispose();
  }
  // Heads are not the single network's; networks without a torchvision base spread nothing.
  assert.equal(singleNetworkName("resnet152-sade", "head.1.weight"), undefined);
  assert.equal(singleNetworkName("resnet32-sade", "backbone.conv1.weight"), undefined);
});
