import assert from "node:assert/strict";
import { join } from "node:path";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { writeFixture } from "./fixture.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function lade(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

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
  const root = await writeFixture(30, 8);
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
    const ev = await lade("evaluate", "--run", join(group, "seed0"), "--prior", "bbse", "--json");
    assert.equal(ev.code, 0, ev.stderr);
    assert.deepEqual(JSON.parse(ev.stdout).source, { split: "val", samples: 30 });
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
    const est = await lade(
      "estimate-prior",
      "--run",
      join(group, "seed0"),
      "--shift",
      "forward10",
      "--method",
      "bbse",
      "--json",
    );
    assert.equal(est.code, 0, est.stderr);
    assert.equal(JSON.parse(est.stdout).source.split, "val");

    // A run without one falls back to its training split, and says so.
    const plain = join(root, "plain");
    const p = await lade("train", "--config", recipe, "--method", "softmax", "--out", plain);
    assert.equal(p.code, 0, p.stderr);
    const evPlain = await lade("evaluate", "--run", plain, "--prior", "bbse", "--json");
    assert.equal(JSON.parse(evPlain.stdout).source.split, "train");
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
    const cmp = await lade("compare", group, plain, "--json", "--prior", "known");
    assert.equal(cmp.code, 0, cmp.stderr);
    const cj = JSON.parse(cmp.stdout);
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
  const root = await writeFixture(30, 8);
  try {
    const recipe = await tinyRecipe(root);
    const cases: [string[], RegExp][] = [
      [["--seeds", "0,0"], /invalid --seeds '0,0': expected distinct non-negative integers/],
      [["--seeds", "0,1", "--seed", "3"], /give --seeds or --seed, not both/],
      [["--seeds", "0", "--repeat", "2"], /give --seeds or --repeat, not both/],
      [["--repeat", "0"], /invalid --repeat '0'/],
      [
        ["--val-per-class", "30"],
        /--val-per-class: class 0 has 30 training image\(s\); holding out 30 would leave none/,
      ],
      [["--val-per-class", "2.5"], /--val-per-class: must be a whole number of images per class/],
    ];
    for (const [args, re] of cases) {
      const r = await lade("train", "--config", recipe, "--out", join(root, "x"), ...args);
      assert.notEqual(r.code, 0, args.join(" "));
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
