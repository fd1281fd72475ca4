/**
 * Reading files the user names (lib/input_file.ts), and the readers built on
 * it: special files are refused without blocking or reading (/dev/zero, a
 * FIFO, a folder), sizes are capped, and a UTF-8 byte-order mark is fine in
 * every JSON and text input (a recipe, a shift file, training counts, an
 * evaluation file, a metrics file).
 */

import assert from "node:assert/strict";
import {
  decodeText,
  formatBytes,
  inputFileSize,
  nestedDeeperThan,
  readInputFile,
  readInputJson,
  readInputRange,
  readInputText,
} from "../lib/input_file.ts";
import { readConfigFile } from "../lib/config/config.ts";
import { readShiftFile } from "../lib/data/mod.ts";
import { readTrainCounts } from "../lib/cli/inputs.ts";
import { readEvaluationsJson } from "../lib/cli/compare.ts";
import { readNpy } from "../lib/eval/npy.ts";
import { readManifest } from "../lib/run/checkpoint.ts";
import { gunzip } from "../lib/data/files.ts";
import { refuses } from "./refusal.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lade-input-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(r.success, "mkfifo");
}

const BOM = "\ufeff";

Deno.test("special files are refused by stat, before anything opens them", async () => {
  await withDir(async (dir) => {
    const fifo = `${dir}/pipe`;
    await mkfifo(fifo);
    const opts = { maxBytes: 1024, what: "config file" };
    // A blocking open of the FIFO would never return: these do, at once.
    await refuses(
      () => readInputFile(fifo, opts),
      /^config file \S+pipe is a FIFO \(named pipe\), not a file \(only regular files are read\)$/,
    );
    await refuses(() => readInputText("/dev/zero", opts), /\/dev\/zero is a character device/);
    await refuses(() => readInputFile(dir, opts), /^config file \S+ is a folder, not a file$/);
    await refuses(() => readInputFile(`${dir}/none`, opts), /^config file \S+none not found$/);
    await refuses(
      () => readInputFile(`${dir}/none`, { ...opts, missing: "no recipe here" }),
      /^no recipe here$/,
    );
    // Every reader built on it: recipes, manifests, shift files, counts, evaluations, npy.
    await refuses(() => readConfigFile(fifo), /is a FIFO/);
    await refuses(() => readShiftFile(fifo, new Int32Array(1), 2), /shift file \S+ is a FIFO/);
    await refuses(() => readTrainCounts(fifo), /is a FIFO/);
    await refuses(() => readEvaluationsJson(fifo), /is a FIFO/);
    await refuses(() => readNpy("/dev/zero"), /is a character device/);
    await Deno.mkdir(`${dir}/run`);
    await mkfifo(`${dir}/run/checkpoint.json`);
    await refuses(() => readManifest(`${dir}/run`), /checkpoint\.json is a FIFO/);
  });
});

Deno.test("sizes are capped before reading; a range reads only what it asks", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/big.json`;
    await Deno.writeFile(path, new Uint8Array(5000).fill(0x20));
    await refuses(
      () => readInputFile(path, { maxBytes: 4096, what: "--prior file" }),
      /^--prior file \S+big\.json is 4\.9 KiB, more than the 4 KiB such a file may hold$/,
    );
    assert.equal(await inputFileSize(path, { maxBytes: 5000 }), 5000);
    assert.deepEqual(
      await readInputRange(path, 4990, 100, { maxBytes: 5000 }),
      new Uint8Array(10).fill(0x20),
    );
    assert.equal(formatBytes(3 * 2 ** 30), "3 GiB");
    assert.equal(formatBytes(100), "100 bytes");
    // A gzip bomb stops at its limit.
    const bomb = new Uint8Array(
      await new Response(
        new Blob([new Uint8Array(1 << 20)]).stream().pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer(),
    );
    assert.ok(bomb.length < 4096);
    await refuses(
      () => gunzip(bomb, "x.gz", 100_000),
      /^x\.gz: gzip data that expands past 97\.7 KiB/,
    );
    assert.equal((await gunzip(bomb, "x.gz")).length, 1 << 20);
  });
});

Deno.test("a UTF-8 byte-order mark is accepted by every JSON and text reader", async () => {
  await withDir(async (dir) => {
    const put = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, BOM + text);
    assert.equal(decodeText(new TextEncoder().encode(`${BOM}x`)), "x");
    await put("a.json", "[1, 2]");
    assert.deepEqual(await readInputJson(`${dir}/a.json`, { maxBytes: 100 }), [1, 2]);
    await put("recipe.yaml", "train:\n  epochs: 3\n");
    assert.deepEqual(await readConfigFile(`${dir}/recipe.yaml`), { train: { epochs: 3 } });
    await put("counts.json", "[30, 10, 3]");
    assert.deepEqual(await readTrainCounts(`${dir}/counts.json`), [30, 10, 3]);
    await put("shift.json", '{"sets": [{"name": "mine", "counts": [1, 1]}]}');
    const sets = await readShiftFile(`${dir}/shift.json`, Int32Array.from([0, 1, 0, 1]), 2);
    assert.equal(sets[0].name, "mine");
    await put("eval.json", '{"shift": "uniform", "results": {"lade": {"top1": 50}}}');
    const e = await readEvaluationsJson(`${dir}/eval.json`);
    assert.equal(e.evaluations[0].results.lade.top1, 50);
    // Still refused when it is not JSON, naming the file.
    await put("bad.json", "{");
    await refuses(() => readInputJson(`${dir}/bad.json`, { maxBytes: 100 }), /bad\.json: not JSON/);
  });
});

Deno.test("JSON nested past any real file is refused in one line (parsing takes it; walkers would not)", async () => {
  await withDir(async (dir) => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    await Deno.writeTextFile(`${dir}/deep.json`, deep);
    await refuses(
      () => readInputJson(`${dir}/deep.json`, { maxBytes: 2 ** 20, what: "--prior file" }),
      /^--prior file \S+deep\.json: nested more than 64 levels deep$/,
    );
    await refuses(() => readEvaluationsJson(`${dir}/deep.json`), /nested more than 64 levels deep/);
    await refuses(
      () => readShiftFile(`${dir}/deep.json`, new Int32Array(1), 2),
      /nested more than 64/,
    );
    // A manifest whose configuration nests deep (merging and comparing it recurse per level).
    await Deno.mkdir(`${dir}/run`);
    await Deno.writeTextFile(
      `${dir}/run/checkpoint.json`,
      `{"config": ${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}}`,
    );
    await refuses(
      () => readManifest(`${dir}/run`),
      /checkpoint\.json is damaged: nested more than 64 levels deep$/,
    );
    assert.equal(nestedDeeperThan(JSON.parse('[[1], {"a": [2]}]'), 3), false);
    assert.equal(nestedDeeperThan(JSON.parse('[[1], {"a": [2]}]'), 2), true);
  });
});
