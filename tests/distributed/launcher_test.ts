/** The local launcher, with ranks that do not load libtorch (fast to start). */
import assert from "node:assert/strict";
import { launchLocal } from "../../lib/distributed/launcher.ts";
import { InputError } from "../../lib/errors.ts";
import { launchScript } from "./fixture.ts";

async function waitFor(paths: string[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const there = await Promise.all(paths.map((p) => Deno.stat(p).then(() => true, () => false)));
    if (there.every((t) => t)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${paths.join(", ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("the ranks get torchrun's variables and a free port", async () => {
  const result = await launchScript("rank_plain.ts", 3, ["env"]);
  assert.ok(result.success, result.message);
  assert.equal(result.code, 0);
  const envs = result.ranks.map((r) => JSON.parse(r.stdout!));
  const port = envs[0].MASTER_PORT;
  assert.match(port, /^\d+$/);
  envs.forEach((e, r) =>
    assert.deepEqual(e, {
      RANK: String(r),
      WORLD_SIZE: "3",
      LOCAL_RANK: String(r),
      LOCAL_WORLD_SIZE: "3",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: port,
    })
  );
});

Deno.test("a failing rank: the rest are terminated, the launch ends with its status", async () => {
  const start = Date.now();
  const result = await launchScript("rank_plain.ts", 2, ["exit3"]);
  assert.ok(Date.now() - start < 8000, "rank 0 (sleeping 60 s) was terminated");
  assert.equal(result.success, false);
  assert.equal(result.code, 3);
  assert.equal(result.failedRank, 1);
  assert.match(
    result.message!,
    /^rank 1 \(pid \d+\) exited with status 3; terminated the other ranks$/,
  );
  assert.equal(result.ranks[0].terminated, true);
  assert.equal(result.ranks[0].signal, "SIGTERM");
});

Deno.test("a rank that outlives a finished one by the timeout is terminated", async () => {
  const result = await launchScript("rank_plain.ts", 2, ["linger"], { timeoutSeconds: 1 });
  assert.equal(result.success, false);
  assert.equal(result.code, 1);
  assert.equal(result.failedRank, 1);
  assert.match(result.message!, /rank 1 did not exit within 1 s of another rank finishing/);
  assert.equal(result.ranks[1].terminated, true);
});

Deno.test("SIGINT to the launcher reaches every rank exactly once, a rank that stops sooner ends none; its status is theirs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-launch-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("launch_child.ts", import.meta.url).pathname, "signals", dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await waitFor([`${dir}/ready0`, `${dir}/ready1`], 15_000);
    child.kill("SIGINT");
    const out = await child.output();
    assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.interrupted, "SIGINT");
    for (const r of [0, 1]) assert.equal(await Deno.readTextFile(`${dir}/sigint${r}`), "1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM to the launcher (a preemption) reaches every rank once, as SIGINT: they checkpoint and stop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-launch-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("launch_child.ts", import.meta.url).pathname, "signals", dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await waitFor([`${dir}/ready0`, `${dir}/ready1`], 15_000);
    child.kill("SIGTERM");
    const out = await child.output();
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.interrupted, "SIGTERM");
    // SIGTERM is what the launcher itself sends to end ranks after a failure;
    // a preemption reaches them as SIGINT, which they stop cleanly on.
    for (const r of [0, 1]) assert.equal(await Deno.readTextFile(`${dir}/sigint${r}`), "1");
    assert.ok(result.ranks.every((x: { code: number }) => x.code === 130));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ranks end themselves when the launcher is killed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-launch-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("launch_child.ts", import.meta.url).pathname, "orphan", dir],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor([`${dir}/ready0`, `${dir}/ready1`], 15_000);
    child.kill("SIGKILL");
    await child.status;
    await waitFor([`${dir}/lost0`, `${dir}/lost1`], 5_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launchLocal checks its options", async () => {
  await assert.rejects(() => launchLocal({ nprocPerNode: 0, args: [] }), InputError);
});
