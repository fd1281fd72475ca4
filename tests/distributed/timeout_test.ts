/**
 * Distributed limits and messages (issue 21): a timeout above a week is
 * refused (timers hold at most 2^31 - 1 ms: --dist-timeout 1e9 became 1 ms,
 * and a finished job was reported as failed), and a collective that timed
 * out or failed is said in lade's terms, the backend's text kept as the
 * error's native message.
 */

import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import {
  checkTimeout,
  collectiveMessage,
  MAX_TIMEOUT_SECONDS,
} from "../../lib/distributed/process_group.ts";
import { launchLocal } from "../../lib/distributed/launcher.ts";
import { parseDistTimeout } from "../../lib/cli/train.ts";

Deno.test("timeouts: at most a week, in the library and on the command line", async () => {
  assert.ok(MAX_TIMEOUT_SECONDS * 1000 <= 2 ** 31 - 1);
  assert.equal(checkTimeout(MAX_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS);
  for (const bad of [1e9, MAX_TIMEOUT_SECONDS + 1, 0, -1, NaN, Infinity]) {
    assert.throws(
      () => checkTimeout(bad),
      (e: unknown) =>
        e instanceof InputError && e.parameter === "timeoutSeconds" &&
        /must be a number of seconds in \(0, 604800\] \(a week\)/.test(e.message),
    );
  }
  await assert.rejects(
    () => launchLocal({ nprocPerNode: 1, command: ["true"], args: [], timeoutSeconds: 1e9 }),
    /timeoutSeconds: must be a number of seconds in \(0, 604800\]/,
  );
  assert.equal(parseDistTimeout("30"), 30);
  assert.throws(
    () => parseDistTimeout("1e9"),
    /invalid --dist-timeout '1e9': expected seconds > 0, at most 604800 \(a week\)$/,
  );
});

Deno.test("a collective's failure in lade's terms, without the backend's internals", () => {
  const gloo = "[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting " +
    "3000ms for recv operation to complete";
  assert.equal(
    collectiveMessage(
      `barrier timed out after 3 s on rank 0 of 2 (a peer rank hung or died): ${gloo}`,
    ),
    "timed out after 3 s on rank 0 of 2: a peer rank hung or died (a rank that is stopped or " +
      "stuck is noticed after the dist timeout)",
  );
  assert.equal(
    collectiveMessage(
      "all-reduce failed on rank 1 of 4 (a peer rank exited or the network failed): " +
        "[../third_party/gloo/gloo/transport/tcp/pair.cc:598] Connection closed by peer",
    ),
    "failed on rank 1 of 4: a peer rank exited or the network failed",
  );
  assert.equal(collectiveMessage("something else"), undefined);
});
