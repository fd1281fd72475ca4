/**
 * One rank of tests/distributed/fault_test.ts. Mode `kill`: all-reduces in a loop;
 * rank 1 SIGKILLs itself on the third step. Mode `hang`: rank 1 joins and
 * then never enters a collective; rank 0 waits at a barrier. A failure is
 * printed as one line, and the rank exits 1.
 */
import { parseRankEnv } from "../../lib/distributed/env.ts";
import { ProcessGroup } from "../../lib/distributed/process_group.ts";
import { zeros } from "../../lib/torch/create.ts";

const [mode, timeout] = Deno.args;
try {
  const env = parseRankEnv()!;
  using pg = ProcessGroup.create({ backend: "gloo", ...env, timeoutSeconds: Number(timeout) });
  if (mode === "kill") {
    using flat = zeros([100_000]);
    for (let step = 0; step < 100_000; step++) {
      if (env.rank === 1 && step === 3) Deno.kill(Deno.pid, "SIGKILL");
      pg.allReduce(flat, { bucketBytes: 65536 });
    }
  } else if (mode === "hang") {
    if (env.rank === 1) await new Promise((resolve) => setTimeout(resolve, 600_000));
    pg.barrier();
  }
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(1);
}
