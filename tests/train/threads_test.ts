/**
 * A training's thread count and the reason its start line gives
 * (lib/train/threads.ts): fixed, a rank's share, or the default the
 * governor chooses from the machine's load.
 */

import assert from "node:assert/strict";
import { trainingThreads } from "../../lib/train/threads.ts";
import { writeFixture } from "./fixture.ts";

Deno.test("fixed counts, a rank's share, and the default with its governor", () => {
  assert.deepEqual(trainingThreads(3, undefined), {
    threads: 3,
    why: "fixed by the threads setting",
  });
  const cores = navigator.hardwareConcurrency;
  const rank = trainingThreads(0, { localWorldSize: 2 });
  assert.equal(rank.threads, Math.max(1, Math.floor(cores / 2)));
  assert.equal(rank.governor, undefined, "ranks keep their share");
  const omp = Deno.env.get("OMP_NUM_THREADS");
  try {
    // OMP_NUM_THREADS fixes the default (as libtorch's own).
    Deno.env.set("OMP_NUM_THREADS", "3");
    assert.deepEqual(trainingThreads(0, undefined), { threads: 3, why: "OMP_NUM_THREADS=3" });
    Deno.env.delete("OMP_NUM_THREADS");
    const d = trainingThreads(0, undefined);
    assert.ok(d.governor !== undefined);
    assert.ok(d.threads >= 1 && d.threads <= cores);
    assert.match(
      d.why,
      /^the default: .+; looked at again as the run goes; a threads setting fixes it$/,
    );
  } finally {
    if (omp === undefined) Deno.env.delete("OMP_NUM_THREADS");
    else Deno.env.set("OMP_NUM_THREADS", omp);
  }
});

Deno.test("the run's start line says how many threads and why", async () => {
  const root = await writeFixture(8, 2);
  try {
    const config = `${root}/tiny.yaml`;
    await Deno.writeTextFile(
      config,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 2\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\n`,
    );
    const env = Deno.env.toObject();
    delete env.OMP_NUM_THREADS;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../main.ts", import.meta.url).pathname,
        "train",
        "--config",
        config,
        "--out",
        `${root}/run`,
      ],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(
      text,
      /^device +cpu, \d+ threads? \(the default: (all \d+ cores free|\d+ of \d+ cores busy) \(other processes used \d+\.\d\); looked at again as the run goes; a threads setting fixes it\)$/m,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
