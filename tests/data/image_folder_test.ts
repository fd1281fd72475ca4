import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describeError } from "../../lib/cli/errors.ts";
import { dataInspectCommand } from "../../lib/cli/data_inspect.ts";
import { dataVerifyCommand } from "../../lib/cli/data_verify.ts";
import { trainCommand } from "../../lib/cli/train.ts";
import { InputError } from "../../lib/errors.ts";
import { loadDataset } from "../../lib/data/datasets.ts";
import { compareCodePoints, imageFolderFiles } from "../../lib/data/image_folder.ts";
import { FileImageSet } from "../../lib/data/image_set.ts";
import { writeFlatImage } from "./fixtures.ts";
import { lade as runLade, printed } from "../cli.ts";
import { findPython, runPythonCode } from "../python.ts";
import { refuses as refused } from "../refusal.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * An ImageFolder tree whose order tests every rule torchvision sorts by:
 * class folders by code point ("Zebra" < "ant" < "cat" < "élan"), folders
 * before their subfolders, file names by code point ("B.PNG" < "a.jpg"),
 * extensions case-insensitive, other files passed over. The test split lacks
 * a class. Each image is a flat colour of its class.
 */
async function writeTree(root: string, opts: { bmp?: boolean; testName?: string } = {}) {
  const files: Record<string, string[]> = {
    "train/Zebra": ["z.png"],
    "train/ant": ["w.png", "x.png", "y.jpg", "v.jpeg"],
    "train/cat": ["a.jpg", "B.PNG", "sub/c.jpeg", "cat-2/e.png"],
    "train/élan": ["p.png", "q.png"],
    [`${opts.testName ?? "test"}/ant`]: ["t1.png"],
    [`${opts.testName ?? "test"}/cat`]: ["t2.jpg", "t3.png"],
    [`${opts.testName ?? "test"}/Zebra`]: ["t4.png"],
  };
  let k = 0;
  for (const [dir, names] of Object.entries(files)) {
    for (const name of names) {
      const path = join(root, dir, name);
      await Deno.mkdir(dirname(path), { recursive: true });
      writeFlatImage(path, [10 * k, 100, 200 - 10 * k], 20 + k, 18);
      k++;
    }
  }
  await Deno.writeTextFile(join(root, "train/cat/notes.txt"), "not an image\n");
  await Deno.writeTextFile(join(root, "train/cat/.DS_Store"), "\0\0");
  // torchvision takes .bmp as an image; lade does not decode it.
  if (opts.bmp) await Deno.writeFile(join(root, "train/cat/d.bmp"), new Uint8Array([66, 77, 0]));
}

async function withTree(
  fn: (root: string) => Promise<void>,
  opts: { bmp?: boolean; testName?: string } = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "lade-folder-" });
  try {
    await writeTree(root, opts);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** The expected training order, by hand from torchvision's rules. */
const TRAIN_ORDER: [string, number][] = [
  ["train/Zebra/z.png", 0],
  ["train/ant/v.jpeg", 1],
  ["train/ant/w.png", 1],
  ["train/ant/x.png", 1],
  ["train/ant/y.jpg", 1],
  ["train/cat/B.PNG", 2],
  ["train/cat/a.jpg", 2],
  // "cat/cat-2" < "cat/sub": '-' (0x2d) sorts before 's'; both after "cat" itself.
  ["train/cat/cat-2/e.png", 2],
  ["train/cat/sub/c.jpeg", 2],
  ["train/élan/p.png", 3],
  ["train/élan/q.png", 3],
];

Deno.test("code-point order is Python's, not UTF-16's", () => {
  // U+FF5E (one UTF-16 unit) sorts before U+1F600 (a surrogate pair, 0xD83D...) by code point.
  assert.ok(compareCodePoints("\uff5e", "\u{1f600}") < 0);
  assert.ok("\uff5e" > "\u{1f600}"); // what JavaScript's < would say
  assert.deepEqual(["b", "B", "a", "é", "ab"].sort(compareCodePoints), ["B", "a", "ab", "b", "é"]);
});

Deno.test("image folder: classes and images in torchvision's order, labels by training class", async () => {
  await withTree(async (root) => {
    const files = await imageFolderFiles({ root });
    assert.deepEqual(files.classNames, ["Zebra", "ant", "cat", "élan"]);
    assert.equal(files.classes, 4);
    const got = files.train.files.map((f, i) => [relative(root, f), files.train.list.labels[i]]);
    assert.deepEqual(got, TRAIN_ORDER);
    // The test split has no "élan": its labels still follow the training classes.
    assert.deepEqual(
      files.test.files.map((f, i) => [relative(root, f), files.test.list.labels[i]]),
      [["test/Zebra/t4.png", 0], ["test/ant/t1.png", 1], ["test/cat/t2.jpg", 2], [
        "test/cat/t3.png",
        2,
      ]],
    );
    const splits = await loadDataset({ dataset: "image-folder", root, imageSize: 16 });
    try {
      assert.deepEqual(splits.classNames, ["Zebra", "ant", "cat", "élan"]);
      assert.deepEqual(splits.trainCounts, [1, 4, 4, 2]);
      assert.deepEqual(splits.testCounts, [1, 1, 2, 0]);
      assert.deepEqual(splits.imbalance, { ratio: 1, type: "exp" });
      assert.deepEqual(splits.mean, [0.485, 0.456, 0.406]);
      assert.ok(splits.train instanceof FileImageSet);
      assert.equal(splits.train.imageSize, 16);
    } finally {
      splits.dispose();
    }
    // -lt: R = 100 by default. n_max = 11 / 4 = 2: 2, 2 * 100^(-1/3) = 0.43, ... -> [2, 0, 0, 0],
    // clamped to what each class has (Zebra has 1).
    const lt = await loadDataset({ dataset: "image-folder-lt", root });
    assert.deepEqual(lt.trainCounts, [1, 0, 0, 0]);
    assert.equal(lt.imbalance.ratio, 100);
    lt.dispose();
    const lt2 = await loadDataset({ dataset: "image-folder-lt", root, imbalance: 2 });
    // 2 * 2^(-c/3): 2, 1.59, 1.26, 1 -> floors [2, 1, 1, 1], Zebra keeps its 1.
    assert.deepEqual(lt2.trainCounts, [1, 1, 1, 1]);
    lt2.dispose();
  });
});

Deno.test("image folder: val/ when there is no test/", async () => {
  await withTree(async (root) => {
    const files = await imageFolderFiles({ root });
    assert.equal(files.test.listPath, join(root, "val"));
    assert.equal(files.test.files.length, 4);
  }, { testName: "val" });
});

Deno.test("image folder: bad layouts and images lade does not decode are one-line errors", async () => {
  await withTree(async (root) => {
    await assert.rejects(
      () => imageFolderFiles({ root }),
      /1 image\(s\) in formats lade does not decode \(it reads JPEG and PNG\), e\.g\. .*train\/cat\/d\.bmp; convert them, or pass `skipBadImages`/,
    );
    const warnings: string[] = [];
    const files = await imageFolderFiles({
      root,
      skipBadImages: true,
      onWarning: (w) => warnings.push(w),
    });
    assert.equal(files.train.files.length, TRAIN_ORDER.length);
    assert.match(warnings.join("\n"), /^leaving out 1 image\(s\) in formats .*d\.bmp$/);
    // Options of image lists are refused, named in the configuration's terms by config/.
    await assert.rejects(
      () => loadDataset({ dataset: "image-folder", root, trainList: "x.txt" }),
      /^InputError: trainList: is for image-list; image-folder takes none/,
    );
    await assert.rejects(
      () => loadDataset({ dataset: "image-folder", root, classes: 4 }),
      (e) => e instanceof InputError && e.parameter === "classes",
    );
    // A class of the test split that training does not have.
    await Deno.mkdir(join(root, "test/dog"));
    writeFlatImage(join(root, "test/dog/d.png"), [1, 2, 3], 8, 8);
    await assert.rejects(
      () => imageFolderFiles({ root, skipBadImages: true }),
      /test\/dog: class 'dog' has no folder in the training split \(4 classes there\)/,
    );
    await Deno.remove(join(root, "test/dog"), { recursive: true });
    // A training class without images.
    await Deno.mkdir(join(root, "train/.ipynb_checkpoints"));
    await assert.rejects(
      () => imageFolderFiles({ root, skipBadImages: true }),
      /train\/\.ipynb_checkpoints: class '\.ipynb_checkpoints' has no JPEG or PNG images/,
    );
    await Deno.remove(join(root, "train/.ipynb_checkpoints"));
    await Deno.remove(join(root, "test"), { recursive: true });
    await assert.rejects(
      () => imageFolderFiles({ root }),
      /missing folder .*\/test \(image-folder expects ROOT\/train\/<class>\/<image>/,
    );
    await Deno.remove(join(root, "train"), { recursive: true });
    await assert.rejects(() => imageFolderFiles({ root }), /missing folder .*\/train \(/);
    await assert.rejects(() => imageFolderFiles({}), /^InputError: root: image-folder expects/);
  }, { bmp: true });
});

/** `lade ARGS` in the repository (tests/cli.ts). */
const lade = (...args: string[]) => runLade(args, { cwd: repo });

Deno.test("data inspect and data verify take an image folder", async () => {
  await withTree(async (root) => {
    // inspect in this process (at the command line: data_inspect_cli_test.ts); verify at
    // the command line.
    const inspect = await printed(() =>
      dataInspectCommand({ dataset: "image-folder", root, json: true })
    );
    const report = JSON.parse(inspect);
    assert.deepEqual(report.class_names, ["Zebra", "ant", "cat", "élan"]);
    assert.deepEqual(report.train.counts, [1, 4, 4, 2]);
    const table = await printed(() => dataInspectCommand({ dataset: "image-folder", root }));
    assert.match(table, /^ {4}2 {2}cat {4}/m);
    assert.match(table, /headers checked only/);
    // A JPEG cut short: its header is intact, its data is not.
    const jpg = await Deno.readFile(join(root, "train/cat/a.jpg"));
    await Deno.writeFile(join(root, "train/cat/a.jpg"), jpg.subarray(0, jpg.length >> 1));
    const verify = await lade("data", "verify", "--dataset", "image-folder", "--root", root);
    assert.equal(verify.code, 2, verify.stderr);
    assert.match(verify.stdout, /^cannot decode JPEG image .*train\/cat\/a\.jpg/m);
    assert.match(verify.stdout, /image-folder: 15 images decoded, 14 readable, 1 unreadable\n$/);
    // --json in this process: the report printed, then the refusal (exit 2 above).
    const json: string[] = [];
    const log = console.log;
    console.log = (line: string) => json.push(line);
    try {
      await assert.rejects(
        () => dataVerifyCommand({ dataset: "image-folder", root, json: true }),
        (e: unknown) => {
          assert.ok(e instanceof InputError, String(e));
          assert.match(describeError(e), /^1 of 15 images cannot be decoded; /);
          return true;
        },
      );
    } finally {
      console.log = log;
    }
    const bad = JSON.parse(json.join("\n")).unreadable;
    assert.equal(bad.length, 1);
    assert.equal(bad[0].list, join(root, "train"));
    assert.equal(bad[0].line, undefined);
    await refused(
      () => dataInspectCommand({ dataset: "image-folder", root, trainList: "x.txt" }),
      /^--train-list: is for image-list; image-folder takes none/,
    );
  });
});

Deno.test("train from an image folder through a YAML recipe", async () => {
  await withTree(async (root) => {
    const out = join(root, "run");
    const recipe = join(root, "recipe.yaml");
    await Deno.writeTextFile(
      recipe,
      [
        "dataset:",
        "  name: image-folder",
        `  root: ${JSON.stringify(root)}`,
        "  imbalance: 1",
        "  image_size: 32",
        "model: { arch: resnet18 }",
        "method: { name: softmax }",
        "train: { epochs: 1, batch_size: 4, eval_batch_size: 8 }",
        "threads: 1",
      ].join("\n") + "\n",
    );
    // In this process, as `lade train --config RECIPE --out OUT` runs it (lade
    // train at the command line: tests/train/cli_test.ts).
    await refused(
      () => trainCommand({ config: recipe, out }),
      /^image-folder: the test split has no images of class 3 \(élan\); /,
    );
    await Deno.mkdir(join(root, "test/élan"));
    writeFlatImage(join(root, "test/élan/t5.png"), [9, 9, 9], 24, 24);
    const stdout = await printed(() => trainCommand({ config: recipe, out }));
    assert.match(
      stdout,
      /image-folder: 11 training images in 4 classes, 1 to 4 a class \(imbalance 1\); 5 test images\nmodel +resnet18, 11,178,564 parameters/,
    );
    const manifest = JSON.parse(await Deno.readTextFile(join(out, "checkpoint.json")));
    assert.deepEqual(manifest.classNames, ["Zebra", "ant", "cat", "élan"]);
    assert.deepEqual(manifest.trainCounts, [1, 4, 4, 2]);
    assert.equal(manifest.config.dataset.name, "image-folder");
  });
});

const python = await findPython(["torch", "torchvision"]);

Deno.test({
  name: "image folder: the same classes and samples as torchvision's ImageFolder (python3)",
  ignore: python === undefined,
  fn: async () => {
    await withTree(async (root) => {
      const out = await runPythonCode(
        python!,
        [
          "import json, os, sys",
          "from torchvision.datasets import ImageFolder",
          "from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset",
          "root = sys.argv[1]",
          "train = ImageFolder(os.path.join(root, 'train'))",
          "# The test split as the training classes label it (a missing class folder passed over).",
          "test = []",
          "for c, i in sorted(train.class_to_idx.items(), key=lambda kv: kv[1]):",
          "    if os.path.isdir(os.path.join(root, 'test', c)):",
          "        test += make_dataset(os.path.join(root, 'test'), {c: i}, IMG_EXTENSIONS)",
          "rel = lambda s: [[os.path.relpath(p, root), y] for p, y in s]",
          "print(json.dumps({'classes': train.classes, 'train': rel(train.samples), " +
          "'test': rel(test)}))",
        ].join("\n"),
        [root],
      );
      const tv = JSON.parse(out);
      const files = await imageFolderFiles({ root, skipBadImages: true });
      assert.deepEqual(files.classNames, tv.classes);
      const decodable = (s: [string, number][]) => s.filter(([p]) => !p.endsWith(".bmp"));
      assert.deepEqual(
        files.train.files.map((f, i) => [relative(root, f), files.train.list.labels[i]]),
        decodable(tv.train),
      );
      assert.ok(tv.train.some(([p]: [string]) => p.endsWith("d.bmp")));
      assert.deepEqual(
        files.test.files.map((f, i) => [relative(root, f), files.test.list.labels[i]]),
        decodable(tv.test),
      );
    }, { bmp: true });
  },
});
