/** Runs launchLocal over tests/distributed/rank_plain.ts (the launcher as its own process); prints the result. */
import { launchLocal } from "../../lib/distributed/launcher.ts";

const [mode, dir] = Deno.args;
const result = await launchLocal({
  nprocPerNode: 2,
  command: [Deno.execPath(), "run", "-A", new URL("rank_plain.ts", import.meta.url).pathname],
  args: [mode, dir],
  stdio: "piped",
  graceSeconds: 5,
});
console.log(JSON.stringify(result));
Deno.exit(result.code);
