/**
 * Faults with two Gloo ranks started directly (not through the launcher, so
 * that the surviving rank's own exit is seen): a rank killed mid-run, a rank
 * that hangs.
 */
import assert from "node:assert/strict";
import { freePort } from "../../lib/distributed/launcher.ts";
import { errorLines } from "./fixture.ts";

function startRanks(mode: string, timeout: number): Deno.ChildProcess[] {
  const port = String(freePort());
  const script = new URL("rank_fault.ts", import.meta.url).pathname;
  return [0, 1].map((rank) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, mode, String(timeout)],
      env: { RANK: String(rank), WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1", MASTER_PORT: port },
      stdout: "null",
      stderr: "piped",
    }).spawn()
  );
}

Deno.test("a rank killed with SIGKILL: the other exits non-zero at once, with one line", async () => {
  // A timeout far beyond a loaded machine's start-up: ending before it is the
  // closed connection noticed, not the timeout.
  const timeout = 120;
  const start = Date.now();
  const [rank0, rank1] = startRanks("kill", timeout);
  const [out0, out1] = await Promise.all([rank0.output(), rank1.output()]);
  const seconds = (Date.now() - start) / 1000;
  assert.equal(out1.signal, "SIGKILL");
  assert.equal(out0.code, 1);
  const lines = errorLines(new TextDecoder().decode(out0.stderr));
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0],
    /^error: distributed all-reduce: failed on rank 0 of 2: a peer rank exited or the network failed$/,
  );
  // The closed connection is noticed long before the timeout.
  assert.ok(seconds < timeout / 2, `${seconds} s`);
});

Deno.test("a rank that hangs: the other times out after --dist-timeout, with one line", async () => {
  const timeout = 2;
  const [rank0, rank1] = startRanks("hang", timeout);
  const start = Date.now();
  const out0 = await rank0.output();
  const seconds = (Date.now() - start) / 1000;
  rank1.kill("SIGKILL");
  await rank1.output();
  assert.equal(out0.code, 1);
  const lines = errorLines(new TextDecoder().decode(out0.stderr));
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0],
    /^error: distributed barrier: timed out after 2 s on rank 0 of 2: a peer rank hung or died \(a rank that is stopped or stuck is noticed after the dist timeout\)$/,
  );
  // Not before the timeout; and it does give up (the margin is for a loaded machine).
  assert.ok(seconds >= timeout && seconds < timeout + 30, `${seconds} s`);
});
