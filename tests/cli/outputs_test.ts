/**
 * Where commands write (issue 21): no output lands on a file a run
 * directory manages (its manifest, checkpoints, configuration), even with
 * --force; no existing file is replaced without --force; and on a full disk
 * (RLIMIT_FSIZE, which fails write() as ENOSPC does; see
 * tests/train/disk_full_test.ts) each writer names the file it could not
 * write and what is intact, and leaves nothing half-written. One tiny run
 * is trained for the whole file, in this process; the checks that need no
 * full disk run the commands in this process too.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { weightsExportCommand } from "../../lib/cli/weights.ts";
import { predictCommand } from "../../lib/cli/predict.ts";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { compareCommand } from "../../lib/cli/compare.ts";
import { stage2Command } from "../../lib/cli/stage2.ts";
import { encodeNpy } from "../../lib/eval/npy.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { train } from "../../lib/train/trainer.ts";
import { fixtureConfig, writeFixture } from "../train/fixture.ts";
import { refuses as refused } from "../refusal.ts";
import { assertOneLineError } from "../cli.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function lade(args: string[], cwd: string, fileLimitKiB?: number) {
  const deno = [Deno.execPath(), "run", "-A", main, ...args];
  // Files over the limit cannot be written; SIGXFSZ ignored, so write() fails.
  const cmd = fileLimitKiB === undefined
    ? deno
    : ["bash", "-c", `trap '' XFSZ; ulimit -f ${fileLimitKiB}; exec "$0" "$@"`, ...deno];
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `fn` with console.log silenced (the commands print their results). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The files under `dir`, relative, sorted (temporaries included). */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) walk(join(d, e.name), `${prefix}${e.name}/`);
      else out.push(`${prefix}${e.name}`);
    }
  };
  walk(dir, "");
  return out.sort();
}

/**
 * One trained run (1 epoch of the tiny fixture) shared by the tests, in its
 * own folder: trained and evaluated over the shift grid into its report/ in
 * this process, as `lade train` does (what is tested is where the other
 * commands write). tiny.yaml is the seed group's recipe of the last test.
 */
let shared: Promise<{ dir: string; run: string }> | undefined;
function trainedRun(): Promise<{ dir: string; run: string }> {
  shared ??= (async () => {
    const root = await writeFixture();
    await Deno.writeTextFile(
      `${root}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    const run = `${root}/run`;
    const result = await train(fixtureConfig(root, { train: { epochs: 1 } }), { runDir: run });
    result.test?.logits.dispose();
    await quietly(() =>
      evaluateCommand({ run, shift: "all", report: join(run, "report"), force: true })
    );
    return { dir: root, run };
  })();
  return shared;
}

Deno.test("no output lands on a file a run manages, --force or not", async () => {
  const { dir, run } = await trainedRun();
  const manifestBefore = await Deno.readFile(`${run}/checkpoint.json`);
  const m = (await readManifest(run))!;
  const managed =
    /is (checkpoint\.json|config\.yaml|checkpoints\/\S+) of the run \S+run, which the run needs: choose another path \(--force does not override this\)$/;
  for (const force of [false, true]) {
    await refused(
      () => weightsExportCommand(run, { out: `${run}/checkpoint.json`, force }),
      managed,
    );
    await refused(() => weightsExportCommand(run, { out: `${run}/${m.model}`, force }), managed);
    await refused(() => weightsExportCommand(run, { out: `${run}/config.yaml`, force }), managed);
    await refused(
      () => predictCommand(["nothing.png"], { run, saveLogits: `${run}/metrics.csv`, force }),
      /is metrics\.csv of the run \S+run, which the run needs/,
    );
    // Refused before the image is read or the model loaded.
    await refused(
      () => predictCommand(["nothing.png"], { run, saveLogits: `${run}/checkpoint.json`, force }),
      /^--save-logits \S+checkpoint\.json is checkpoint\.json of the run/,
    );
  }
  // Through a symbolic link, too.
  await Deno.symlink(`${run}/checkpoint.json`, `${dir}/innocent.json`);
  await refused(
    () => weightsExportCommand(run, { out: `${dir}/innocent.json`, force: true }),
    /innocent\.json is checkpoint\.json of the run/,
  );
  await refused(
    () => weightsExportCommand(run, { out: run }),
    /^--out \S+run is a run directory; give a file name$/,
  );
  // A second stage may not become a run inside the first's checkpoints/.
  await refused(
    () => stage2Command({ run, method: "tau-norm", tau: "1", out: `${run}/checkpoints/tau` }),
    /^--out: \S+checkpoints\/tau is checkpoints\/tau of the run \S+run, which that run manages$/,
  );
  assert.deepEqual(await Deno.readFile(`${run}/checkpoint.json`), manifestBefore);
  assert.ok(files(run).includes(m.model));
  assert.ok(!files(run).some((f) => f.startsWith("checkpoints/tau")));
});

Deno.test("an existing file is replaced only with --force", async () => {
  const { dir, run } = await trainedRun();
  const out = `${dir}/w.safetensors`;
  await quietly(() => weightsExportCommand(run, { out }));
  await Deno.writeTextFile(out, "mine");
  await refused(
    () => weightsExportCommand(run, { out }),
    /^--out \S+w\.safetensors exists; use --force to replace it$/,
  );
  assert.equal(await Deno.readTextFile(out), "mine");
  await quietly(() => weightsExportCommand(run, { out, force: true }));
  assert.notEqual(await Deno.readTextFile(out), "mine");
  // Folders of outputs: every file the command would write is checked.
  const npy = `${dir}/npy`;
  await quietly(() => evaluateCommand({ run, exportNpy: npy, report: false }));
  await refused(
    () => evaluateCommand({ run, exportNpy: npy, report: false }),
    /^--export-npy \S+npy already holds logits\.npy, labels\.npy, train_counts\.npy; use --force to replace them$/,
  );
  await quietly(() => evaluateCommand({ run, exportNpy: npy, report: false, force: true }));
  const cmp = `${dir}/cmp`;
  await quietly(() => compareCommand([`${run}/report/results.json`], { out: cmp }));
  await refused(
    () => compareCommand([`${run}/report/results.json`], { out: cmp }),
    /^--out \S+cmp already holds comparison\.json, table\.md, table\.txt and 3 more; use --force/,
  );
  await quietly(() => compareCommand([`${run}/report/results.json`], { out: cmp, force: true }));
  // A folder of other things is never a report's, --force or not: said before any evaluation.
  const mine = `${dir}/mine`;
  await Deno.mkdir(mine, { recursive: true });
  await Deno.writeTextFile(`${mine}/notes.txt`, "mine");
  const other =
    /^--(report|out): \S+mine holds other files than a report \(notes\.txt\); give a new or empty folder$/;
  for (const force of [false, true]) {
    assert.deepEqual(
      await refused(() => evaluateCommand({ run, shift: "all", report: mine, force }), other),
      [],
    );
    assert.deepEqual(
      await refused(
        () => compareCommand([`${run}/report/results.json`], { out: mine, force }),
        other,
      ),
      [],
    );
  }
  assert.deepEqual([...Deno.readDirSync(mine)].map((e) => e.name), ["notes.txt"]);
});

Deno.test("only regular files are replaced: a FIFO or a device stays, --force or not", async () => {
  const { dir, run } = await trainedRun();
  const fifo = `${dir}/pipe.npy`;
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(made.success, "mkfifo");
  await Deno.symlink(fifo, `${dir}/to-pipe.npy`);
  for (const force of [false, true]) {
    for (const out of [fifo, `${dir}/to-pipe.npy`]) {
      await refused(
        () => weightsExportCommand(run, { out, force }),
        /^--out \S+pipe\.npy is a FIFO \(named pipe\), not a regular file: choose another path \(--force does not override this\)$/,
      );
    }
    await refused(
      () => predictCommand(["nothing.png"], { run, saveLogits: "/dev/null", force }),
      /^--save-logits \/dev\/null is a character device, not a regular file: /,
    );
    // In a folder of outputs too: a FIFO where logits.npy would go.
    const npy = `${dir}/npy-fifo`;
    await Deno.mkdir(npy, { recursive: true });
    await Deno.remove(`${npy}/logits.npy`).catch(() => {});
    await new Deno.Command("mkfifo", { args: [`${npy}/logits.npy`] }).output();
    await refused(
      () => evaluateCommand({ run, exportNpy: npy, report: false, force }),
      /logits\.npy is a FIFO \(named pipe\), not a regular file/,
    );
    assert.ok((await Deno.lstat(`${npy}/logits.npy`)).isFifo);
  }
  assert.ok((await Deno.lstat(fifo)).isFifo, "the FIFO is still one");
  assert.ok((await Deno.lstat("/dev/null")).isCharDevice);
});

Deno.test({
  name: "a full disk: each writer names the file, keeps what was there, leaves no temporary",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { dir, run } = await trainedRun();
    // Exit 1 (not bad input: the disk), one line, no stack trace.
    const oneLine = (r: { code: number; stderr: string }, re: RegExp) =>
      assertOneLineError({ code: r.code, stderr: r.stderr }, re, 1);
    // weights export: a new file (1.5 MB) over a 100 KiB limit, then over an existing one.
    let r = await lade(["weights", "export", run, "--out", "new.safetensors"], dir, 100);
    oneLine(r, /^lade: error: cannot write new\.safetensors: file too large; nothing was written$/);
    await Deno.writeTextFile(`${dir}/old.safetensors`, "old");
    r = await lade(["weights", "export", run, "--out", "old.safetensors", "--force"], dir, 100);
    oneLine(
      r,
      /^lade: error: cannot write old\.safetensors: file too large; old\.safetensors is unchanged$/,
    );
    assert.equal(await Deno.readTextFile(`${dir}/old.safetensors`), "old");
    // evaluate --export-npy: three files, none written when one fails.
    r = await lade(["evaluate", "--run", run, "--no-report", "--export-npy", "full-npy"], dir, 1);
    oneLine(
      r,
      /^lade: error: cannot write full-npy\/logits\.npy: file too large; nothing was written \(files already there are unchanged\)$/,
    );
    // (nor the folder it would have made for them)
    await assert.rejects(() => Deno.stat(`${dir}/full-npy`), Deno.errors.NotFound);
    // evaluate's report into a folder of the user's (a report is a whole folder: none is made).
    r = await lade(["evaluate", "--run", run, "--report", "full-report"], dir, 4);
    oneLine(r, /^lade: error: cannot write full-report\/\S+: file too large; nothing was written/);
    await assert.rejects(() => Deno.stat(`${dir}/full-report`), Deno.errors.NotFound);
    // compare --out: six files, none left when one fails.
    r = await lade(["compare", `${run}/report/results.json`, "--out", "full-cmp"], dir, 4);
    oneLine(
      r,
      /^lade: error: cannot write full-cmp\/\S+: file too large; nothing was written/,
    );
    await assert.rejects(() => Deno.stat(`${dir}/full-cmp`), Deno.errors.NotFound);
    // predict --save-logits of 300 inputs (12 KB of logits) under 4 KiB.
    await Deno.writeFile(
      `${dir}/batch.npy`,
      encodeNpy({ dtype: "uint8", shape: [300, 1, 28, 28], data: new Uint8Array(300 * 784) }),
    );
    r = await lade(
      ["predict", "--run", run, "--npy", "batch.npy", "--save-logits", "l.npy", "--json"],
      dir,
      4,
    );
    oneLine(r, /^lade: error: cannot write l\.npy: file too large; nothing was written$/);
    // A seed group whose first files cannot be written leaves no folder.
    r = await lade(
      ["train", "--config", "tiny.yaml", "--seeds", "0,1", "--out", "group"],
      dir,
      0,
    );
    oneLine(
      r,
      /^lade: error: cannot write group\/config\.yaml: file too large; nothing was written/,
    );
    await assert.rejects(() => Deno.stat(`${dir}/group`), Deno.errors.NotFound);
    assert.deepEqual(files(dir).filter((f) => f.endsWith(".tmp")), []);
  },
});
