/**
 * Data-parallel training against one process (CPU, Gloo on loopback): the
 * trainer's pieces as 2 ranks x 1 thread give the parameters of 1 process on
 * the same global batches.
 */
import assert from "node:assert/strict";
import { launchLocal } from "../../lib/distributed/launcher.ts";
import { setNumThreads } from "../../lib/torch/device.ts";
import { checkGlobalBatch, rankDevice, rankThreads } from "../../lib/train/data_parallel.ts";
import { InputError } from "../../lib/errors.ts";
import { trainSteps } from "./data_parallel_fixture.ts";

function relativeError(a: number[], b: number[]): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    norm = Math.max(norm, Math.abs(b[i]));
  }
  return diff / norm;
}

Deno.test("2 ranks x 1 thread: after 6 SGD steps the parameters are one process's (1e-5 relative)", async () => {
  const out = await Deno.makeTempDir({ prefix: "lade-dp-" });
  try {
    const script = new URL("rank_data_parallel.ts", import.meta.url).pathname;
    const launched = launchLocal({
      nprocPerNode: 2,
      command: [Deno.execPath(), "run", "-A", script],
      args: [out],
      stdio: "piped",
      timeoutSeconds: 60,
    });
    // The single-process run meanwhile, from rank 0's seed.
    setNumThreads(1);
    const single = await trainSteps(undefined, 100);
    const result = await launched;
    assert.ok(result.success, result.ranks.map((r) => r.stderr).join("\n"));
    const ranks = await Promise.all(
      [0, 1].map(async (r) => JSON.parse(await Deno.readTextFile(`${out}/rank${r}.json`))),
    );
    // Rank 1 drew other initial weights; the broadcast gave it rank 0's, and
    // the summed gradients keep the ranks identical.
    assert.deepEqual(ranks[1].params, ranks[0].params);
    assert.deepEqual(ranks[1].losses, ranks[0].losses);
    assert.equal(ranks[0].params.length, single.params.length);
    const err = relativeError(ranks[0].params, single.params);
    assert.ok(err < 1e-5, `parameters differ by ${err} (relative)`);
    // The losses of the global batches agree too.
    assert.equal(ranks[0].losses.length, 6);
    assert.ok(relativeError(ranks[0].losses, single.losses) < 1e-5, String(ranks[0].losses));
    console.log(`max parameter difference ${err.toExponential(2)} of the largest parameter`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a rank's device, threads and share of the batch", () => {
  assert.equal(rankDevice("cpu", { localRank: 3 }), "cpu");
  assert.equal(rankThreads({ localWorldSize: navigator.hardwareConcurrency * 4 }), 1);
  assert.equal(rankThreads({}), navigator.hardwareConcurrency);
  assert.equal(checkGlobalBatch(256, 8), 32);
  assert.throws(
    () => checkGlobalBatch(100, 3),
    (e) =>
      e instanceof InputError && e.parameter === "train.batch_size" &&
      /^train\.batch_size: the global batch 100 does not divide among 3 ranks \(use a multiple of 3, such as 99 or 102\)$/
        .test(e.message),
  );
});
