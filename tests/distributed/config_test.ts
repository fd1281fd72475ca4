/** Bad distributed configurations: one line each, naming the problem. */
import assert from "node:assert/strict";
import { freePort } from "../../lib/distributed/launcher.ts";
import { availableBackends, ProcessGroup } from "../../lib/distributed/process_group.ts";
import { InputError, TorchError } from "../../lib/errors.ts";

function oneLine(e: unknown, type: typeof InputError | typeof TorchError, pattern: RegExp) {
  assert.ok(e instanceof type, String(e));
  assert.equal(e.message.split("\n").length, 1, e.message);
  assert.match(e.message, pattern);
  return true;
}

const base = { rank: 0, worldSize: 1, masterAddr: "127.0.0.1", timeoutSeconds: 2 };

Deno.test("an unknown backend", () => {
  assert.throws(
    () => ProcessGroup.create({ ...base, masterPort: freePort(), backend: "mpi" }),
    (e) => oneLine(e, InputError, /^backend: unknown backend 'mpi' \(use gloo or nccl\)$/),
  );
});

Deno.test("nccl without CUDA", () => {
  if (availableBackends().includes("nccl")) {
    // A CUDA build: nccl still refuses a CPU device.
    assert.throws(
      () =>
        ProcessGroup.create({ ...base, masterPort: freePort(), backend: "nccl", device: "cpu" }),
      (e) => oneLine(e, InputError, /nccl runs on CUDA devices, not 'cpu'; use gloo/),
    );
    return;
  }
  assert.throws(
    () => ProcessGroup.create({ ...base, masterPort: freePort(), backend: "nccl" }),
    (e) =>
      oneLine(e, InputError, /^backend: nccl needs a CUDA build of libtorch with NCCL.*use gloo$/),
  );
});

Deno.test("a rank outside the world, a bad port or timeout", () => {
  assert.throws(
    () => ProcessGroup.create({ ...base, masterPort: 1234, backend: "gloo", rank: 1 }),
    (e) => oneLine(e, InputError, /^rank: must be an integer in 0\.\.0 \(got 1\)$/),
  );
  assert.throws(
    () => ProcessGroup.create({ ...base, masterPort: 0, backend: "gloo" }),
    (e) => oneLine(e, InputError, /^masterPort: /),
  );
  assert.throws(
    () => ProcessGroup.create({ ...base, masterPort: 1234, backend: "gloo", timeoutSeconds: 0 }),
    (e) => oneLine(e, InputError, /^timeoutSeconds: /),
  );
});

Deno.test("an unreachable rendezvous names its address, within the timeout", () => {
  const port = freePort();
  const start = Date.now();
  assert.throws(
    () =>
      ProcessGroup.create({
        ...base,
        rank: 1,
        worldSize: 2,
        masterPort: port,
        backend: "gloo",
        timeoutSeconds: 1,
      }),
    (e) =>
      oneLine(
        e,
        TorchError,
        new RegExp(
          `cannot reach the rendezvous at 127\\.0\\.0\\.1:${port} within 1 s \\(rank 1 of 2\\)`,
        ),
      ),
  );
  assert.ok(Date.now() - start < 6000);
});

Deno.test("rank 0 alone: the other ranks never join", () => {
  const port = freePort();
  assert.throws(
    () =>
      ProcessGroup.create({
        ...base,
        worldSize: 2,
        masterPort: port,
        backend: "gloo",
        timeoutSeconds: 1,
      }),
    (e) =>
      oneLine(
        e,
        TorchError,
        new RegExp(`rendezvous at 127\\.0\\.0\\.1:${port}: not every rank joined within 1 s`),
      ),
  );
});

Deno.test("a rendezvous port already in use", () => {
  const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    assert.throws(
      () => ProcessGroup.create({ ...base, masterPort: port, backend: "gloo" }),
      (e) => oneLine(e, TorchError, new RegExp(`cannot host the rendezvous on port ${port}`)),
    );
  } finally {
    listener.close();
  }
});

Deno.test("a group of one works without peers", () => {
  using pg = ProcessGroup.create({ ...base, masterPort: freePort(), backend: "gloo" });
  pg.barrier();
  assert.equal(pg.worldSize, 1);
  assert.equal(pg.rendezvous.startsWith("127.0.0.1:"), true);
});
