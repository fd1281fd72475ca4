/**
 * `evaluate --run` leaves the training run's report as training wrote it:
 * each evaluation writes a folder of its own (report-<shift>-<prior>-<time>),
 * and a report written into a folder that held another leaves none of the
 * other's plots behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFixture } from "../train/fixture.ts";
import { lade as ladeIn } from "../cli.ts";

/** `lade ARGS` in `cwd`. */
const lade = (args: string[], cwd: string) => ladeIn(args, { cwd });

async function files(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("evaluate --run writes its own report folder; training's report stays whole", async () => {
  const root = await writeFixture();
  const dir = await Deno.makeTempDir({ prefix: "lade-report-" });
  try {
    let r = await lade([
      "train",
      "--dataset",
      "mnist-lt",
      "--root",
      root,
      "--imbalance",
      "3",
      "--epochs",
      "1",
      "--batch-size",
      "16",
      "--threads",
      "1",
      "--out",
      "run",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    const training = join(dir, "run", "report");
    const before = await Deno.readTextFile(join(training, "results.json"));
    assert.equal(JSON.parse(before).evaluations.length, 11, "training's report holds the grid");
    const trainingFiles = await files(training);
    assert.ok(trainingFiles.includes("accuracy_grid.svg"));

    r = await lade(["evaluate", "--run", "run", "--shift", "forward10"], dir);
    assert.equal(r.code, 0, r.stderr);
    // Before: run/report/results.json went from the grid to this one shift.
    assert.equal(await Deno.readTextFile(join(training, "results.json")), before);
    assert.deepEqual(await files(training), trainingFiles);
    const said = /^report: \d+ files in (run\/report-forward10-known-\d{8}-\d{6})$/m.exec(r.stdout);
    assert.ok(said, r.stdout);
    const own = JSON.parse(await Deno.readTextFile(join(dir, said[1], "results.json")));
    assert.deepEqual(own.evaluations.map((e: { shift: string }) => e.shift), ["forward10"]);
    assert.ok(!(await files(join(dir, said[1]))).includes("accuracy_grid.svg"));

    // The same evaluation again: another folder, the first one kept.
    r = await lade(["evaluate", "--run", "run", "--shift", "forward10", "--prior", "em"], dir);
    assert.equal(r.code, 0, r.stderr);
    const again = /^report: \d+ files in (run\/report-forward10-em-\S+)$/m.exec(r.stdout);
    assert.ok(again, r.stdout);
    await Deno.stat(join(dir, said[1], "results.json"));

    // --report into a folder that held the grid (replacing a report asks for
    // --force): the new report replaces the folder whole, so the grid's plot goes.
    const copy = join(dir, "copy");
    await Deno.mkdir(copy);
    for (const f of trainingFiles) await Deno.copyFile(join(training, f), join(copy, f));
    r = await lade(["evaluate", "--run", "run", "--shift", "uniform", "--report", "copy"], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--report copy already holds results\.json, .*; use --force/);
    r = await lade(
      ["evaluate", "--run", "run", "--shift", "uniform", "--report", "copy", "--force"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const replaced = await files(copy);
    assert.ok(trainingFiles.includes("accuracy_grid.svg"), `${trainingFiles}`);
    assert.ok(!replaced.includes("accuracy_grid.svg"), `${replaced}`);
    for (const f of ["index.html", "per_class.svg", "reliability.svg", "results.json"]) {
      assert.ok(replaced.includes(f), `${f} missing: ${replaced}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
