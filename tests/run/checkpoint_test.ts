import assert from "node:assert/strict";
import { Model } from "../../lib/models/model.ts";
import { CHECKPOINT_DIR, loadCheckpoint, readManifest } from "../../lib/run/checkpoint.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { readSafetensors } from "../../lib/weights/safetensors.ts";

const child = new URL("./checkpoint_child.ts", import.meta.url).pathname;

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("SIGKILL while checkpoints are being written leaves the last complete one loadable", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "lade-kill-" });
  let lastEpoch = 0;
  let sawPartialWrite = false;
  for (let round = 0; round < 4; round++) {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", child, runDir],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Wait for one more checkpoint than before, then kill at a random moment of the next writes.
    await waitFor(async () => ((await readManifest(runDir))?.epoch ?? 0) > lastEpoch, 30_000);
    await new Promise((r) => setTimeout(r, 30 + Math.random() * 150));
    proc.kill("SIGKILL");
    const status = await proc.status;
    assert.equal(status.signal, "SIGKILL");
    await proc.stderr.cancel();

    // Files beside the manifest's two: a write was cut short (or an old one not yet deleted).
    const manifest = (await readManifest(runDir))!;
    for await (const e of Deno.readDir(`${runDir}/${CHECKPOINT_DIR}`)) {
      const rel = `${CHECKPOINT_DIR}/${e.name}`;
      if (rel !== manifest.model && rel !== manifest.optimizer) sawPartialWrite = true;
    }
    assert.ok(manifest.epoch >= lastEpoch + 1);
    // The manifest's archives match their SHA-256 digests and load.
    using model = Model.create({ arch: "resnet32", classes: 10, inChannels: 3 });
    using opt = new SGD(model, { lr: 0.01, momentum: 0.9 });
    const loaded = await loadCheckpoint(runDir, model, opt, false);
    assert.equal(loaded.epoch, manifest.epoch);
    lastEpoch = manifest.epoch;
  }
  // Not asserted (timing-dependent), reported for the record.
  console.log(`killed 4 times; a write was caught in progress: ${sawPartialWrite}`);
  await Deno.remove(runDir, { recursive: true });
});

Deno.test("a damaged checkpoint archive is reported, not loaded", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "lade-damaged-" });
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child, runDir],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor(async () => (await readManifest(runDir)) !== null, 30_000);
  proc.kill("SIGKILL");
  await proc.status;
  const manifest = (await readManifest(runDir))!;
  const path = `${runDir}/${manifest.model}`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.length >> 1] ^= 0xff;
  await Deno.writeFile(path, bytes);
  using model = Model.create({ arch: "resnet32", classes: 10, inChannels: 3 });
  await assert.rejects(() => loadCheckpoint(runDir, model), /is damaged \(SHA-256 mismatch\)/);
  await Deno.remove(runDir, { recursive: true });
});

Deno.test("checkpoints hold the weights as safetensors; a run with a libtorch archive still loads", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "lade-format-" });
  try {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", child, runDir],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(async () => (await readManifest(runDir)) !== null, 30_000);
    proc.kill("SIGKILL");
    await proc.status;
    const manifest = (await readManifest(runDir))!;
    assert.match(manifest.model, /^checkpoints\/model-.*\.safetensors$/);
    const file = await readSafetensors(`${runDir}/${manifest.model}`);
    assert.equal(file.metadata.format, "lade");
    assert.equal(file.metadata.arch, manifest.arch);
    using a = Model.create({ arch: "resnet32", classes: 10, inChannels: 3 });
    await loadCheckpoint(runDir, a);
    // The same weights as a libtorch archive, with the manifest pointing at
    // it (as runs wrote it before): the same state.
    const old = `${CHECKPOINT_DIR}/model-old.pt`;
    a.save(`${runDir}/${old}`);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", await Deno.readFile(`${runDir}/${old}`)),
    );
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(
      `${runDir}/checkpoint.json`,
      JSON.stringify({ ...manifest, model: old, sha256: { ...manifest.sha256, model: hex } }),
    );
    using b = Model.create({ arch: "resnet32", classes: 10, inChannels: 3 });
    await loadCheckpoint(runDir, b);
    using va = a.stateVector();
    using vb = b.stateVector();
    assert.deepEqual(
      Array.from(vb.toArray() as Float32Array),
      Array.from(va.toArray() as Float32Array),
    );
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});
