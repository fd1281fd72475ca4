/**
 * `data inspect` and `data verify` end to end. Each flag and each kind of
 * output is seen through the command line (tests/cli.ts) at least once; the
 * other refusals and reports call the commands in-process (lib/cli/data_inspect.ts)
 * and check the one line main.ts would print, which spares a process each.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tensor } from "../../lib/torch/create.ts";
import { writeImage } from "../../lib/data/image_io.ts";
import { InputError } from "../../lib/errors.ts";
import { describeError } from "../../lib/cli/errors.ts";
import {
  dataInspectCommand,
  formatReport,
  inspectDataset,
  type InspectOptions,
} from "../../lib/cli/data_inspect.ts";
import { assertOneLineError, lade as ladeIn } from "../cli.ts";
import { cifarRecords, idxBytes, makeImages, writeFlatImage, writeIdxDataset } from "./fixtures.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** `lade ARGS` from the repository's root. */
const lade = (...args: string[]) => ladeIn(args, { cwd: repo });

/**
 * `data inspect` with `options`, in-process, refused: asserts the line
 * main.ts's exitWithError would print for it (for `lade data inspect ARGS`)
 * matches `pattern`, and a non-zero exit (2: bad input). It prints nothing
 * on stdout: the command prints only once the dataset is read.
 */
async function assertRefused(options: InspectOptions, args: string[], pattern: RegExp) {
  const error = await dataInspectCommand(options).then(
    () => assert.fail(`data inspect ${args.join(" ")} succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InputError, String(error));
  const line = `lade: error: ${describeError(error, ["data", "inspect", ...args])}`;
  assert.match(line, /^lade: error: /);
  assert.match(line, pattern);
}

Deno.test("data inspect --dataset fashion-mnist-lt --json (Debian's install, no configuration)", async () => {
  // In-process (the report --json prints); the next test reads --json through the command line.
  const report = JSON.parse(JSON.stringify(await inspectDataset({ dataset: "fashion-mnist-lt" })));
  assert.equal(report.dataset, "fashion-mnist-lt");
  assert.equal(report.classes, 10);
  assert.deepEqual(report.train.counts, [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
  assert.equal(report.train.total, 14886);
  assert.deepEqual(report.test.counts, new Array(10).fill(1000));
  assert.equal(report.test.total, 10000);
  assert.deepEqual(report.shots, { many: [0, 1, 2, 3, 4, 5, 6, 7], medium: [8, 9], few: [] });
});

Deno.test("data inspect --shift forward10 and a table with step imbalance", async () => {
  const r = await lade(
    "data",
    "inspect",
    "--dataset",
    "fashion-mnist-lt",
    "--shift",
    "forward10",
    "--json",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    JSON.parse(r.stdout).test.counts,
    [1000, 774, 599, 464, 359, 278, 215, 166, 129, 100],
  );
  const t = await lade(
    "data",
    "inspect",
    "--dataset",
    "fashion-mnist",
    "--imbalance",
    "10",
    "--imbalance-type",
    "step",
  );
  assert.equal(t.code, 0, t.stderr);
  // Step, R = 10: classes 0-4 keep 6000, 5-9 keep 600.
  assert.match(t.stdout, /\n\s+4\s+Coat\s+6000\s+1000\s+many\n\s+5\s+Sandal\s+600\s+1000\s+many\n/);
  assert.match(t.stdout, /total\s+33000\s+10000/);
});

Deno.test("data inspect: bad input ends with one line and a non-zero exit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Missing files: the message names the path and where the data comes from.
    assertOneLineError(
      await lade("data", "inspect", "--dataset", "fashion-mnist", "--root", dir),
      new RegExp(`missing data file ${join(dir, "train-images-idx3-ubyte.gz")}.*pass --root`),
    );
    // Wrong magic number.
    await writeIdxDataset(dir, 10, 10, { raw: true });
    const bad = idxBytes([10], new Uint8Array(10));
    bad[1] = 3;
    await Deno.writeFile(join(dir, "t10k-labels-idx1-ubyte"), bad);
    await assertRefused(
      { dataset: "fashion-mnist", root: dir },
      ["--dataset", "fashion-mnist", "--root", dir],
      /t10k-labels-idx1-ubyte is not an IDX file \(wrong magic number\)/,
    );
    // A label outside the class range.
    await Deno.writeFile(
      join(dir, "t10k-labels-idx1-ubyte"),
      idxBytes([10], new Uint8Array(10).fill(12)),
    );
    await assertRefused(
      { dataset: "fashion-mnist", root: dir },
      ["--dataset", "fashion-mnist", "--root", dir],
      /label 12 of sample 0 outside the class range 0\.\.9/,
    );
    // A CIFAR file whose length is not a whole number of records.
    await Deno.writeFile(join(dir, "train.bin"), cifarRecords(2, 2, () => [0, 0]).subarray(1));
    await Deno.writeFile(join(dir, "test.bin"), cifarRecords(2, 2, () => [0, 0]));
    await assertRefused(
      { dataset: "cifar100", root: dir },
      ["--dataset", "cifar100", "--root", dir],
      /train\.bin: truncated or corrupted CIFAR file/,
    );
    // An unreadable image in a list; skipped with a warning on request.
    writeFlatImage(join(dir, "a.png"), [1, 2, 3], 8, 8);
    await Deno.writeTextFile(join(dir, "bad.jpg"), "GIF89a, not a JPEG");
    await Deno.writeTextFile(join(dir, "train.txt"), "a.png 0\nbad.jpg 1\na.png 1\n");
    await Deno.writeTextFile(join(dir, "test.txt"), "a.png 0\na.png 1\n");
    await assertRefused(
      { dataset: "image-list", root: dir },
      ["--dataset", "image-list", "--root", dir],
      /bad\.jpg: not a JPEG or PNG file .*--skip-bad-images/,
    );
    const skipped = await lade(
      "data",
      "inspect",
      "--dataset",
      "image-list",
      "--root",
      dir,
      "--skip-bad-images",
      "--json",
    );
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.deepEqual(JSON.parse(skipped.stdout).train.counts, [1, 1]);
    assert.match(skipped.stderr, /warning: skipping 1 unreadable image/);
    // Bad flag values.
    await assertRefused(
      { dataset: "fashion-mnist", imbalance: "abc" },
      ["--dataset", "fashion-mnist", "--imbalance", "abc"],
      /--imbalance expects a number, got 'abc'/,
    );
    await assertRefused(
      { dataset: "fashion-mnist", shift: "sideways3" },
      ["--dataset", "fashion-mnist", "--shift", "sideways3"],
      /unknown shift 'sideways3'/,
    );
    await assertRefused(
      { dataset: "svhn" },
      ["--dataset", "svhn"],
      /--dataset: unknown dataset 'svhn'/,
    );
    // The library's parameters are said as flags.
    await assertRefused(
      { dataset: "mnist" },
      ["--dataset", "mnist"],
      /--root: mnist needs a folder with train-images-idx3-ubyte/,
    );
    await assertRefused(
      { dataset: "fashion-mnist", imbalance: "0.5" },
      ["--dataset", "fashion-mnist", "--imbalance", "0.5"],
      /--imbalance: must be a number >= 1, got 0\.5$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data inspect on image lists: pixel limit, outside paths, --classes as flags", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "d/img"), { recursive: true });
    const lines: string[] = [];
    for (let c = 0; c < 2; c++) {
      writeFlatImage(join(dir, `d/img/${c}.png`), [100 * c, 50, 50], 40, 30);
      lines.push(`img/${c}.png ${c}`);
    }
    await Deno.writeTextFile(join(dir, "d/test.txt"), lines.join("\n") + "\n");
    await Deno.writeTextFile(join(dir, "d/train.txt"), lines.join("\n") + "\n");
    const root = join(dir, "d");
    await assertRefused(
      { dataset: "image-list", root, maxImagePixels: "1000" },
      ["--dataset", "image-list", "--root", root, "--max-image-pixels", "1000"],
      /img\/0\.png: 40x30 is 1200 pixels, over the limit of 1000 pixels .*--max-image-pixels.*--skip-bad-images/,
    );
    await assertRefused(
      { dataset: "image-list", root, classes: "5" },
      ["--dataset", "image-list", "--root", root, "--classes", "5"],
      /--classes: .*3 of the 5 declared classes have no training images|declared classes have no training images/,
    );
    await Deno.writeTextFile(join(dir, "d/train.txt"), lines.join("\n") + "\n../d/img/1.png 1\n");
    await assertRefused(
      { dataset: "image-list", root },
      ["--dataset", "image-list", "--root", root],
      /^lade: error: --image-root: .*train\.txt:3: '\.\.\/d\/img\/1\.png' leads outside the image root .*; pass --allow-outside-root if that is meant$/,
    );
    // The flags through the command line, in one run (a limit of exactly 1200 pixels admits 40x30).
    const allowed = await lade(
      "data",
      "inspect",
      "--dataset",
      "image-list",
      "--root",
      root,
      "--allow-outside-root",
      "--classes",
      "2",
      "--max-image-pixels",
      "1200",
      "--json",
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(JSON.parse(allowed.stdout).classes, 2);
    assert.deepEqual(JSON.parse(allowed.stdout).train.counts, [1, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data verify decodes every image; inspect says it read headers only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "img"));
    const lines: string[] = [];
    for (let c = 0; c < 2; c++) {
      writeFlatImage(join(dir, `img/${c}.png`), [100 * c, 50, 50], 20, 20);
      lines.push(`img/${c}.png ${c}`);
    }
    await Deno.writeTextFile(join(dir, "test.txt"), lines.join("\n") + "\n");
    {
      using noisy = tensor(makeImages(1, 3, 48), [3, 48, 48]);
      writeImage(noisy, join(dir, "img/noisy.jpg"), 90);
    }
    // The scan cut off and an end-of-image marker appended: the header is intact.
    const jpg = await Deno.readFile(join(dir, "img/noisy.jpg"));
    await Deno.writeFile(
      join(dir, "img/cut.jpg"),
      new Uint8Array([...jpg.subarray(0, jpg.length >> 1), 0xff, 0xd9]),
    );
    await Deno.writeTextFile(
      join(dir, "train.txt"),
      lines.join("\n") + "\nimg/noisy.jpg 0\nimg/cut.jpg 1\n",
    );
    // inspect's table in-process (the command prints formatReport's text; the table is
    // read through the command line above).
    const inspect = formatReport(await inspectDataset({ dataset: "image-list", root: dir }));
    assert.match(inspect, /headers checked only .*`lade data verify` decodes every image/);
    const verify = await lade("data", "verify", "--dataset", "image-list", "--root", dir);
    assert.equal(verify.code, 2, verify.stderr);
    assert.match(verify.stdout, /train\.txt:4: cannot decode JPEG image .*cut\.jpg: /);
    assert.match(verify.stdout, /image-list: 6 images decoded, 5 readable, 1 unreadable\n$/);
    assert.match(
      verify.stderr.trim(),
      /^lade: error: 1 of 6 images cannot be decoded; fix or remove them, or train with --skip-bad-images to leave them out$/,
    );
    const json = await lade("data", "verify", "--dataset", "image-list", "--root", dir, "--json");
    const report = JSON.parse(json.stdout);
    assert.equal(report.readable, 5);
    assert.equal(report.unreadable[0].line, 4);
    await Deno.remove(join(dir, "img/cut.jpg"));
    await Deno.writeTextFile(join(dir, "train.txt"), lines.join("\n") + "\nimg/noisy.jpg 0\n");
    const ok = await lade("data", "verify", "--dataset", "image-list", "--root", dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^image-list: 5 images decoded, 5 readable, 0 unreadable\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
