/**
 * Child process of checkpoint_test.ts: trains ResNet-32 on random data and
 * writes a checkpoint after every step, forever, continuing from the run's
 * manifest if there is one. The parent kills it with SIGKILL at random
 * moments.
 */

import { Model } from "../../lib/models/model.ts";
import { loadCheckpoint, readManifest, saveCheckpoint } from "../../lib/run/checkpoint.ts";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { manualSeed, setNumThreads } from "../../lib/torch/device.ts";
import { randint, randn } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";

const runDir = Deno.args[0];
setNumThreads(1);
manualSeed(0);
using model = Model.create({ arch: "resnet32", classes: 10, inChannels: 3 });
using opt = new SGD(model, { lr: 0.01, momentum: 0.9 });
const previous = await readManifest(runDir);
let epoch = previous ? (await loadCheckpoint(runDir, model, opt, true)).epoch : 0;
for (;;) {
  scope(() => {
    opt.zeroGrad();
    const loss = model.forward(randn([4, 3, 32, 32])).logSoftmax(1)
      .gather(1, randint(0, 10, [4, 1])).mean().neg();
    loss.backward();
    opt.step();
  });
  epoch++;
  await saveCheckpoint(runDir, model, opt, {
    epoch,
    step: 0,
    running: { loss: 0, correct: 0, seen: 0, seconds: 0 },
    trainCounts: new Array(10).fill(1),
    // As many epochs as it runs (a manifest past its run's epochs is damaged).
    config: { ...DEFAULT_CONFIG, train: { ...DEFAULT_CONFIG.train, epochs: 1_000_000 } },
    arch: "resnet32",
    inChannels: 3,
    classes: 10,
    classNames: Array.from({ length: 10 }, (_, i) => `${i}`),
  });
  console.log(`saved ${epoch}`);
}
