import assert from "node:assert/strict";
import { join } from "node:path";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { InputError } from "../../lib/errors.ts";
import { describeError } from "../../lib/cli/errors.ts";
import { estimatePriorCommand } from "../../lib/cli/estimate_prior.ts";
import { compareCommand } from "../../lib/cli/compare.ts";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { trainEntry } from "../../lib/cli/train_seeds.ts";
import { writeFixture } from "./fixture.ts";
import { lade as ladeIn, printed } from "../cli.ts";

/** `lade ARGS`. */
const lade = (...args: string[]) => ladeIn(args);

/** 12 training images per class (before the imbalance), 8 test images. */
const TRAIN_PER_CLASS = 12;

async function tinyRecipe(root: string): Promise<string> {
  const path = join(root, "tiny.yaml");
  await Deno.writeTextFile(
    path,
    `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
      `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
  );
  return path;
}

Deno.test("train --seeds: a run per seed in one group, a validation split, and the group's comparison", async () => {
  const root = await writeFixture(TRAIN_PER_CLASS, 8);
  try {
    const recipe = await tinyRecipe(root);
    const group = join(root, "g");
    const r = await lade(
      "train",
      "--config",
      recipe,
      "--seeds",
      "0,1",
      "--val-per-class",
      "3",
      "--out",
      group,
    );
    assert.equal(r.code, 0, r.stderr);
    for (const seed of [0, 1]) {
      const m = (await readManifest(join(group, `seed${seed}`)))!;
      assert.equal(m.config.seed, seed);
      assert.equal(m.config.dataset.val_per_class, 3);
      const metrics = await readMetrics(join(group, `seed${seed}`));
      assert.equal(typeof metrics[0].val_top1, "number");
    }
    assert.match(r.stdout, /== 2 seeds of/);
    assert.match(r.stdout, /mean ± std over each group's runs/);
    const c = JSON.parse(await Deno.readTextFile(join(group, "compare", "comparison.json")));
    assert.equal(c.groups.length, 1);
    assert.equal(c.groups[0].runs.length, 2);
    const lade_ = c.entries.find((e: { variant: string }) => e.variant === "lade");
    assert.equal(lade_.cells.uniform.top1.n, 2);
    assert.equal(lade_.grid_mean.n, 2);
    for (
      const f of ["accuracy_grid.svg", "grid_mean.svg", "table.md", "table_wide.md", "index.html"]
    ) {
      await Deno.stat(join(group, "compare", f));
    }

    // BBSE and EM's calibration use the held-out split, and say so.
    // evaluate --json in-process (its text, through the command line, next).
    const ev = await printed(() =>
      evaluateCommand({ run: join(group, "seed0"), prior: "bbse", json: true })
    );
    assert.deepEqual(JSON.parse(ev).source, { split: "val", samples: 30 });
    const text = await lade(
      "evaluate",
      "--run",
      join(group, "seed0"),
      "--prior",
      "all",
      "--no-report",
    );
    assert.match(
      text.stdout,
      /labelled source data \(EM's calibration, BBSE\): the held-out validation split \(30 images: 3 per class held out/,
    );
    // estimate-prior in-process (the report its --json prints; its text is read below).
    const est = JSON.parse(
      await printed(() =>
        estimatePriorCommand({
          run: join(group, "seed0"),
          shift: "forward10",
          method: "bbse",
          json: true,
        })
      ),
    );
    assert.equal(est.source.split, "val");

    // A run without one falls back to its training split, and says so.
    const plain = join(root, "plain");
    const p = await lade("train", "--config", recipe, "--method", "softmax", "--out", plain);
    assert.equal(p.code, 0, p.stderr);
    const evPlain = await printed(() => evaluateCommand({ run: plain, prior: "bbse", json: true }));
    assert.equal(JSON.parse(evPlain).source.split, "train");
    const estPlain = await lade(
      "estimate-prior",
      "--run",
      plain,
      "--shift",
      "forward10",
      "--method",
      "bbse",
    );
    assert.match(
      estPlain.stdout,
      /labelled source data: the training split \(\d+ images, seen in training/,
    );

    // compare: two groups, labelled by method; JSON.
    // (in-process, its printed JSON: compare GROUP PLAIN --json --prior known)
    const cj = JSON.parse(
      await printed(() => compareCommand([group, plain], { json: true, prior: "known" })),
    );
    assert.deepEqual(cj.groups.map((g: { label: string }) => g.label), ["lade", "softmax"]);
    assert.deepEqual(
      cj.entries.map((e: { series: string; prior: string }) => `${e.prior}:${e.series}`),
      // LADE's prior-free rule (argmax f) sits beside softmax's.
      [
        "known:lade/lade",
        "known:softmax/pc_softmax",
        "none:lade/lade_uniform",
        "none:softmax/softmax",
      ],
    );

    // Resuming a finished group trains nothing and compares again.
    const again = await lade("train", "--resume", group);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.match(/finished already/g)?.length, 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("train --seeds / --repeat / --val-per-class: one-line errors", async () => {
  const root = await writeFixture(TRAIN_PER_CLASS, 8);
  try {
    const recipe = await tinyRecipe(root);
    const cases: [string[], RegExp][] = [
      [["--seeds", "0,0"], /invalid --seeds '0,0': expected distinct non-negative integers/],
      [["--seeds", "0,1", "--seed", "3"], /give --seeds or --seed, not both/],
      [["--seeds", "0", "--repeat", "2"], /give --seeds or --repeat, not both/],
      [["--repeat", "0"], /invalid --repeat '0'/],
      [
        ["--val-per-class", `${TRAIN_PER_CLASS}`],
        new RegExp(
          `--val-per-class: class 0 has ${TRAIN_PER_CLASS} training image\\(s\\); ` +
            `holding out ${TRAIN_PER_CLASS} would leave none`,
        ),
      ],
      [["--val-per-class", "2.5"], /--val-per-class: must be a whole number of images per class/],
    ];
    // --repeat 0 through the command line (one line, a non-zero exit); the
    // rest in-process: the line main.ts's exitWithError prints, and bad input (exit 2).
    const [[firstArgs, firstRe]] = cases.splice(3, 1);
    assert.deepEqual(firstArgs, ["--repeat", "0"]);
    const rest = cases;
    const r = await lade("train", "--config", recipe, "--out", join(root, "x"), ...firstArgs);
    assert.notEqual(r.code, 0, firstArgs.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], firstRe);
    for (const [args, re] of rest) {
      const flags: Record<string, string> = {};
      for (let i = 0; i < args.length; i += 2) {
        flags[args[i].slice(2).replace(/-(.)/g, (_, c: string) => c.toUpperCase())] = args[i + 1];
      }
      const error = await trainEntry({ config: recipe, out: join(root, "x"), ...flags }).then(
        () => assert.fail(`train ${args.join(" ")} succeeded`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof InputError, String(error));
      const given = ["train", "--config", recipe, "--out", join(root, "x"), ...args];
      assert.match(`lade: error: ${describeError(error, given)}`, re);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
