/**
 * A rank without libtorch, for the launcher's tests (tests/distributed/launcher_test.ts).
 * Modes: env (print the rank variables), exit3 (rank 1 exits 3, rank 0
 * sleeps), linger (rank 0 exits 0, rank 1 sleeps), signals (write DIR/ready<R>,
 * then count SIGINTs for a while, write DIR/sigint<R> and exit 130), orphan
 * (write DIR/ready<R>, then write DIR/lost<R> once the launcher is gone).
 */
import { watchLauncher } from "../../lib/distributed/launcher.ts";

const [mode, dir] = Deno.args;
const rank = Number(Deno.env.get("RANK"));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (mode === "env") {
  const names = [
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
  ];
  console.log(JSON.stringify(Object.fromEntries(names.map((n) => [n, Deno.env.get(n)]))));
} else if (mode === "exit3") {
  if (rank === 1) Deno.exit(3);
  await sleep(60_000);
} else if (mode === "linger") {
  if (rank === 1) await sleep(60_000);
} else if (mode === "signals") {
  let count = 0;
  Deno.addSignalListener("SIGINT", () => {
    count++;
    if (count === 1) {
      // Rank 0 takes a while to stop (as when it writes a checkpoint); rank 1 stops at once.
      setTimeout(() => {
        Deno.writeTextFileSync(`${dir}/sigint${rank}`, String(count));
        Deno.exit(130);
      }, rank === 0 ? 1500 : 200);
    }
  });
  Deno.writeTextFileSync(`${dir}/ready${rank}`, "");
  await sleep(60_000);
} else if (mode === "orphan") {
  watchLauncher(() => {
    Deno.writeTextFileSync(`${dir}/lost${rank}`, "");
    Deno.exit(1);
  }, 100);
  Deno.writeTextFileSync(`${dir}/ready${rank}`, "");
  const keepAlive = setInterval(() => {}, 1000);
  await sleep(30_000);
  clearInterval(keepAlive);
}
