/**
 * One rank of tests/train/data_parallel_test.ts: the fixture's steps as a
 * rank of a Gloo group (1 thread), its initial weights drawn from a seed of
 * its own; writes its losses and final parameters to OUT/rank<R>.json.
 */
import { parseRankEnv } from "../../lib/distributed/env.ts";
import { watchLauncher } from "../../lib/distributed/launcher.ts";
import { setNumThreads } from "../../lib/torch/device.ts";
import { DataParallel } from "../../lib/train/data_parallel.ts";
import { trainSteps } from "./data_parallel_fixture.ts";

const [out] = Deno.args;
try {
  watchLauncher();
  setNumThreads(1);
  const env = parseRankEnv()!;
  using dp = DataParallel.create({ env, backend: "gloo", timeoutSeconds: 30 }, "cpu");
  const result = await trainSteps(dp, 100 + env.rank);
  await Deno.writeTextFile(`${out}/rank${env.rank}.json`, JSON.stringify(result));
} catch (e) {
  console.error(`error: ${(e as Error).message.split("\n")[0]}`);
  Deno.exit(1);
}
