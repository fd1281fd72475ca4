/**
 * `train`'s flags, declared once (lib/config/train_flags.ts): the command
 * line offers exactly them, each recipe flag sets its key, `--resume` and a
 * seed group's `--resume` take or refuse each as the table says, the
 * launcher hands on those it forwards, and the README's table is the
 * table's.
 */

import assert from "node:assert/strict";
import { buildProgram } from "../../main.ts";
import { TRAIN_FLAGS, trainFlagsTable } from "../../lib/config/train_flags.ts";
import { overridesPatch, resolveConfig } from "../../lib/config/config.ts";
import { parseFlags, rankArguments, trainCommand } from "../../lib/cli/train.ts";
import { trainEntry } from "../../lib/cli/train_seeds.ts";
import { BEGIN, END } from "../../scripts/readme_flags.ts";

/** A value of the flag's kind that its recipe key accepts. */
function sample(kind: string, flag: string): string | true {
  switch (kind) {
    case "switch":
      return true;
    case "bool":
      return "false";
    case "numbers":
      return "0,1,2";
    case "list":
      return "best,last";
    case "number":
      return flag === "--val-per-class" ? "3" : flag === "--lr-gamma" ? "0.5" : "7";
    default:
      return "x";
  }
}

Deno.test("the command line's train takes exactly the table's flags", () => {
  const train = buildProgram().commands.find((c) => c.name() === "train")!;
  assert.deepEqual(
    train.options.map((o) => o.flags),
    TRAIN_FLAGS.map((f) => (f.value === undefined ? f.flag : `${f.flag} ${f.value}`)),
  );
});

Deno.test("each recipe flag sets its key in the patch", () => {
  for (const f of TRAIN_FLAGS.filter((x) => x.key !== undefined)) {
    const value = sample(f.kind, f.flag);
    const parsed = parseFlags({ [f.name]: value });
    let node: unknown = overridesPatch(parsed);
    for (const part of f.key!.split(".")) node = (node as Record<string, unknown>)?.[part];
    assert.notEqual(node, undefined, `${f.flag} sets ${f.key}`);
  }
  // Values that are the recipe's own, through the whole resolution.
  const c = resolveConfig(undefined, parseFlags({ batchSize: "64", lrStep: "3", lrGamma: "0.5" }));
  assert.equal(c.train.batch_size, 64);
  assert.deepEqual([c.train.schedule.type, c.train.schedule.step_size, c.train.schedule.gamma], [
    "step",
    3,
    0.5,
  ]);
});

Deno.test("--resume takes the flags that may change and refuses the others, as the table says", async () => {
  for (const f of TRAIN_FLAGS.filter((x) => x.name !== "resume" && x.kind !== "switch")) {
    const value = sample(f.kind, f.flag);
    const err = await trainCommand({ resume: "/nonexistent/run", [f.name]: value })
      .then(() => "", (e) => (e as Error).message);
    if (f.resume === "refused") {
      assert.match(err, new RegExp(`^${f.flag} cannot be combined with --resume`), f.flag);
    } else {
      assert.doesNotMatch(err, /cannot be combined with --resume/, `${f.flag}: ${err}`);
    }
  }
});

Deno.test("--resume of a seed group refuses the flags of the group's recipe", async () => {
  const group = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${group}/seeds.json`, JSON.stringify({ seeds: [0] }));
    for (const f of TRAIN_FLAGS.filter((x) => x.group === "refused" && x.kind !== "switch")) {
      const err = await trainEntry({ resume: group, [f.name]: sample(f.kind, f.flag) })
        .then(() => "", (e) => (e as Error).message);
      assert.match(err, new RegExp(`^${f.flag} cannot be combined with --resume of a seed group`));
    }
  } finally {
    await Deno.remove(group, { recursive: true });
  }
});

Deno.test("the launcher hands its ranks every forwarded flag given, and no other", () => {
  const all = Object.fromEntries(TRAIN_FLAGS.map((f) => [f.name, sample(f.kind, f.flag)]));
  const args = rankArguments(all, "runs/x");
  for (const f of TRAIN_FLAGS) {
    assert.equal(args.includes(f.flag), f.forwarded, f.flag);
  }
  assert.deepEqual(rankArguments({}, "runs/x"), ["train", "--out", "runs/x"]);
});

Deno.test("the README's table of train's flags is the table's", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  assert.ok(a >= 0 && b > a, "the README has the markers");
  // Cells compared without the padding `deno fmt` adds.
  const cells = (table: string) =>
    table.trim().split("\n").map((row) =>
      row.split(/(?<!\\)\|/).map((c) => c.trim().replace(/^-+$/, "-")).join("|")
    );
  assert.deepEqual(
    cells(readme.slice(a + BEGIN.length, b)),
    cells(trainFlagsTable()),
    "run: deno run -A scripts/readme_flags.ts --write",
  );
});
