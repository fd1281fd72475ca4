/**
 * Arranges the allocator as lade's entry does (lib/cli/allocator.ts), then
 * prints this process's PID and the allocators mapped into it as JSON: the
 * test compares the PID with the one it started (a re-execution in place,
 * not a child process).
 *
 *     deno run -A allocator_child.ts
 */

import { arrangeAllocator } from "../../lib/cli/allocator.ts";
import { allocatorStatus, mappedAllocators } from "../../lib/torch/allocator.ts";

arrangeAllocator();
console.log(JSON.stringify({
  pid: Deno.pid,
  mapped: mappedAllocators(),
  status: allocatorStatus(),
  argv: Deno.args,
}));
