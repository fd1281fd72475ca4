/**
 * A checkpoint manifest is checked whole before anything in it is used: each
 * damage below is an InputError naming the file and the field (before the
 * schema, negative counts were used, a bad base64 field gave an uncaught
 * stack trace and a missing field "Cannot read properties of undefined").
 */

import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { MANIFEST, readManifest, validateManifest } from "../../lib/run/checkpoint.ts";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";

function good(): Record<string, unknown> {
  return {
    version: 1,
    epoch: 2,
    step: 0,
    running: { loss: 0, correct: 0, seen: 0, seconds: 0 },
    trainCounts: [5, 3, 1],
    config: structuredClone(DEFAULT_CONFIG),
    arch: "cnn28",
    inChannels: 1,
    classes: 3,
    classNames: ["a", "b", "c"],
    model: "checkpoints/model-e0002-s000000-x.pt",
    optimizer: "checkpoints/optimizer-e0002-s000000-x.pt",
    sha256: { model: "a".repeat(64), optimizer: "b".repeat(64) },
    rng: "AAECAw==",
    savedAt: "2026-01-01T00:00:00.000Z",
  };
}

function damaged(patch: (m: Record<string, unknown>) => void, re: RegExp): void {
  const m = good();
  patch(m);
  assert.throws(
    () => validateManifest(m, "run/checkpoint.json"),
    (e: Error) =>
      e instanceof InputError && /^run\/checkpoint\.json is damaged: /.test(e.message) &&
      re.test(e.message),
  );
}

Deno.test("a manifest is validated whole, field by field", () => {
  const m = validateManifest(good(), "run/checkpoint.json");
  assert.equal(m.epoch, 2);
  damaged((m) => (m.trainCounts = [5, -3, 1]), /trainCounts\.1: must be positive \(-3\)/);
  damaged((m) => delete m.running, /running: .*\(missing\)/);
  damaged((m) => (m.rng = "not base64!"), /rng: must be base64/);
  damaged((m) => (m.epoch = -1), /epoch: .*\(-1\)/);
  damaged((m) => (m.step = 1.5), /step: .*\(1\.5\)/);
  damaged((m) => (m.epoch = 400), /epoch 400, step 0 is past the run's \d+ epochs/);
  damaged(
    (m) => (m.model = "../../etc/passwd.pt"),
    /model: must name a \.pt or \.safetensors file in checkpoints\//,
  );
  damaged((m) => (m.classes = 4), /trainCounts: lists 3 classes, not 4/);
  damaged((m) => ((m.running as { correct: number }).correct = 5), /running\.correct: 5 is more/);
  damaged((m) => (m.arch = "resnet9000"), /arch: /);
  damaged((m) => ((m.config as { train: { lr: number } }).train.lr = -1), /train\.lr/);
  damaged((m) => (m.version = 2), /version: /);
  // The prior the classifier was trained under: optional, one per class, summing to 1.
  assert.deepEqual(
    validateManifest({ ...good(), logitPrior: [0.5, 0.25, 0.25] }, "x").logitPrior,
    [0.5, 0.25, 0.25],
  );
  damaged((m) => (m.logitPrior = [0.5, 0.5]), /logitPrior: must be 3 numbers summing to 1/);
  damaged((m) => (m.logitPrior = [0.5, 0.2, 0.2]), /logitPrior: must be 3 numbers summing to 1/);
  damaged((m) => (m.logitPrior = [1.5, -0.25, -0.25]), /logitPrior\.0: must be <= 1/);
});

Deno.test("readManifest: not JSON, not an object, or absent", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await readManifest(dir), null);
    await Deno.writeTextFile(`${dir}/${MANIFEST}`, "{ not json");
    await assert.rejects(() => readManifest(dir), /checkpoint\.json is damaged: not JSON/);
    await Deno.writeTextFile(`${dir}/${MANIFEST}`, "[1, 2]");
    await assert.rejects(() => readManifest(dir), InputError);
    await Deno.writeTextFile(`${dir}/${MANIFEST}`, JSON.stringify(good()));
    assert.equal((await readManifest(dir))!.classes, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
