/**
 * Runs lade's command line (main.ts's `main`) and sends this very process a
 * signal the moment a line matching a pattern is printed on stdout: a
 * signal at an exact moment of a command, as a user's Ctrl-C could land
 * (tests/cli/signals_test.ts).
 *
 *     deno run -A signal_child.ts SIGINT 'top-1 accuracy' train --config ...
 */

import { main } from "../../main.ts";

const [signal, pattern, ...args] = Deno.args;
const re = new RegExp(pattern);
const print = console.log;
let sent = false;
console.log = (...parts: unknown[]) => {
  print(...parts);
  if (!sent && re.test(parts.map(String).join(" "))) {
    sent = true;
    Deno.kill(Deno.pid, signal as Deno.Signal);
  }
};
await main(args);
