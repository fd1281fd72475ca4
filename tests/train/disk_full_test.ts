/**
 * A checkpoint write that fails for lack of room (here RLIMIT_FSIZE, which
 * makes write() fail with EFBIG as a full disk fails with ENOSPC) is one line
 * and a non-zero exit; the previous checkpoint stays the latest and no
 * partial file is left. Before the archives were serialised in memory,
 * libtorch's writer threw from a destructor and the process aborted (134)
 * with a C++ stack trace and a partial `.tmp` archive.
 */

import assert from "node:assert/strict";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { writeFixture } from "./fixture.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function run(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** root/tiny.yaml: the fixture's MNIST-LT (R = 3), `epochs` epochs of batches of 16, 1 thread. */
async function writeTinyConfig(root: string, epochs: number): Promise<void> {
  await Deno.writeTextFile(
    `${root}/tiny.yaml`,
    `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
      `train:\n  epochs: ${epochs}\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
  );
}

Deno.test({
  name: "a full disk while a checkpoint is written: one line, exit 1, the previous checkpoint kept",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const root = await writeFixture();
    const out = `${root}/run`;
    await writeTinyConfig(root, 3);
    const first = await run([
      Deno.execPath(),
      ...["run", "-A", main, "train", "--config", `${root}/tiny.yaml`, "--epochs", "1"],
      ...["--out", out],
    ]);
    assert.equal(first.code, 0, first.stderr);
    const before = (await readManifest(out))!;
    const files = [...Deno.readDirSync(`${out}/checkpoints`)].map((e) => e.name).sort();
    // Files over 1000 KiB cannot be written (an archive is about 1.5 MB); SIGXFSZ ignored,
    // so write() fails as it does on a full disk.
    const full = await run([
      "bash",
      "-c",
      `trap '' XFSZ; ulimit -f 1000; exec "$0" "$@"`,
      Deno.execPath(),
      ...["run", "-A", main, "train", "--resume", out, "--epochs", "2"],
    ]);
    assert.equal(full.code, 1, full.stderr);
    const lines = full.stderr.trim().split("\n");
    assert.equal(lines.length, 1, full.stderr);
    assert.match(
      lines[0],
      /^lade: error: cannot write the checkpoint of the end of epoch 2 to .*run: File too large.*; the previous checkpoint \(the end of epoch 1\) is intact and still the latest$/,
    );
    const after = (await readManifest(out))!;
    assert.deepEqual(after, before);
    assert.deepEqual([...Deno.readDirSync(`${out}/checkpoints`)].map((e) => e.name).sort(), files);
    assert.deepEqual(
      [...Deno.readDirSync(out)].filter((e) => e.name.endsWith(".tmp")),
      [],
      "no temporary left",
    );
    // With room again the run goes on from the checkpoint that was kept.
    const again = await run([
      Deno.execPath(),
      ...["run", "-A", main, "train", "--resume", out, "--epochs", "2"],
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await readManifest(out))!.epoch, 2);
    // A step past the epoch's end (the schema cannot know the epoch's length) is refused.
    const m = JSON.parse(await Deno.readTextFile(`${out}/checkpoint.json`));
    Object.assign(m, { epoch: 1, step: 999 });
    m.running.seen = 16;
    await Deno.writeTextFile(`${out}/checkpoint.json`, JSON.stringify(m));
    const past = await run([
      Deno.execPath(),
      ...["run", "-A", main, "train", "--resume", out, "--epochs", "3"],
    ]);
    assert.equal(past.code, 2, past.stderr);
    assert.match(
      past.stderr.trim(),
      /^lade: error: .*checkpoint\.json is damaged: step 999 is past the end of an epoch of 9 batches$/,
    );
    await Deno.remove(root, { recursive: true });
  },
});

Deno.test({
  name: "a full disk while the metrics are written: one line naming them, the checkpoint kept",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const root = await writeFixture();
    const out = `${root}/run`;
    await writeTinyConfig(root, 6);
    const first = await run([
      Deno.execPath(),
      ...["run", "-A", main, "train", "--config", `${root}/tiny.yaml`, "--out", out],
    ]);
    assert.equal(first.code, 0, first.stderr);
    const metrics = await Deno.readTextFile(`${out}/metrics.jsonl`);
    assert.ok(metrics.length > 1024, "six epochs of metrics pass the 1 KiB limit");
    const full = await run([
      "bash",
      "-c",
      `trap '' XFSZ; ulimit -f 1; exec "$0" "$@"`,
      Deno.execPath(),
      ...["run", "-A", main, "train", "--resume", out, "--epochs", "7"],
    ]);
    assert.equal(full.code, 1, full.stderr);
    assert.match(
      full.stderr.trim(),
      /^lade: error: cannot write the metrics of epoch 7 to .*run: File too large; the previous checkpoint \(the end of epoch 6\) is intact and still the latest$/,
    );
    assert.equal(await Deno.readTextFile(`${out}/metrics.jsonl`), metrics);
    assert.equal((await readManifest(out))!.epoch, 6);
    await Deno.remove(root, { recursive: true });
  },
});

Deno.test("result.json that cannot be written: one line naming it, the checkpoint kept", async () => {
  const root = await writeFixture();
  const out = `${root}/run`;
  await writeTinyConfig(root, 2);
  const first = await run([
    Deno.execPath(),
    ...["run", "-A", main, "train", "--config", `${root}/tiny.yaml`, "--epochs", "1"],
    ...["--out", out],
  ]);
  assert.equal(first.code, 0, first.stderr);
  // A folder in the way of the rename.
  await Deno.remove(`${out}/result.json`);
  await Deno.mkdir(`${out}/result.json/x`, { recursive: true });
  const r = await run([
    Deno.execPath(),
    ...["run", "-A", main, "train", "--resume", out, "--epochs", "2"],
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr.trim(),
    /^lade: error: cannot write the result \(result\.json\) to .*run: .*; the previous checkpoint \(the end of epoch 2\) is intact and still the latest$/,
  );
  assert.equal((await readManifest(out))!.epoch, 2);
  await Deno.remove(root, { recursive: true });
});
