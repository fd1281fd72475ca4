/**
 * Which files a run directory manages (lib/run/managed.ts): its list names
 * the very files the trainer, the lock and the seed groups write, and a path
 * is found to be one of them directly, through a symbolic link or inside a
 * seed group's run; other paths are nobody's.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  GROUP_SEEDS_FILE,
  managingRun,
  RUN_CONFIG_FILE,
  RUN_RESULT_FILE,
} from "../../lib/run/managed.ts";
import { CONFIG_FILE, RESULT_FILE } from "../../lib/train/trainer.ts";
import { SEEDS_FILE } from "../../lib/cli/train_seeds.ts";

Deno.test("the managed names are the ones their writers use", () => {
  assert.equal(RUN_CONFIG_FILE, CONFIG_FILE);
  assert.equal(RUN_RESULT_FILE, RESULT_FILE);
  assert.equal(GROUP_SEEDS_FILE, SEEDS_FILE);
});

Deno.test("managingRun: a run's files, through links and groups; nobody's elsewhere", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const group = join(dir, "group"), run = join(group, "seed0");
    await Deno.mkdir(join(run, "checkpoints"), { recursive: true });
    await Deno.writeTextFile(join(group, "seeds.json"), "{}");
    await Deno.writeTextFile(join(run, "checkpoint.json"), "{}");
    await Deno.mkdir(join(dir, "training"));
    await Deno.writeTextFile(join(dir, "training", "lade.lock"), "{}");
    assert.deepEqual(await managingRun(join(run, "checkpoint.json")), {
      run,
      file: "checkpoint.json",
    });
    assert.deepEqual(await managingRun(join(run, "checkpoints", "new.safetensors")), {
      run,
      file: "checkpoints/new.safetensors",
    });
    assert.deepEqual(await managingRun(join(group, "config.yaml")), {
      run: group,
      file: "config.yaml",
    });
    // A run still training (only its lock so far), and a run directory itself.
    assert.deepEqual(await managingRun(join(dir, "training", "metrics.jsonl")), {
      run: join(dir, "training"),
      file: "metrics.jsonl",
    });
    assert.deepEqual(await managingRun(run), { run, file: "." });
    // The CSV twin of the metrics, and TensorBoard's event files (a resume appends to them).
    for (const file of ["metrics.csv", "tensorboard/events.out.tfevents.1.host"]) {
      assert.deepEqual(await managingRun(join(run, file)), { run, file });
    }
    await Deno.symlink(join(run, "checkpoint.json"), join(dir, "link.json"));
    assert.deepEqual(await managingRun(join(dir, "link.json")), { run, file: "checkpoint.json" });
    // Not managed: other names in a run, the group's comparison, paths outside.
    for (
      const p of [
        join(run, "report", "results.json"),
        join(run, "w.safetensors"),
        join(group, "compare", "table.md"),
        join(dir, "elsewhere", "x.npy"),
      ]
    ) {
      assert.equal(await managingRun(p), undefined, p);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
