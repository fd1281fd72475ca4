/**
 * The allocator at start (lib/torch/allocator.ts, lib/cli/allocator.ts):
 * the decision in every case (pure, with the machine's libraries given),
 * the re-execution in place (the same PID, the library mapped), `info`
 * naming what is in use, and a training and an evaluation that give the
 * same numbers under each allocator.
 */

import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import {
  type AllocatorName,
  ALLOCATORS,
  DEFAULT_ALLOCATOR,
  EXEC_MARKER_ENV,
  findAllocatorLibrary,
  planAllocator,
} from "../../lib/torch/allocator.ts";
import { writeFixture } from "../train/fixture.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;
const child = new URL("./allocator_child.ts", import.meta.url).pathname;

const LIBS = {
  tcmalloc: "/lib/x/libtcmalloc_minimal.so.4",
  jemalloc: "/lib/x/libjemalloc.so.2",
  mimalloc: "/lib/x/libmimalloc.so.2",
};

/** A plan for `vars`, PID 100, with the libraries of `installed` present. */
function plan(
  vars: Record<string, string>,
  installed: (keyof typeof LIBS)[] = ["tcmalloc", "jemalloc", "mimalloc"],
) {
  return planAllocator({
    env: (k) => vars[k],
    pid: 100,
    find: (name) => (installed.includes(name) ? LIBS[name] : undefined),
  });
}

Deno.test("the default allocator is preloaded by one re-execution, after the user's preloads", () => {
  const p = plan({});
  assert.equal(p.action, "exec");
  assert.equal(p.name, DEFAULT_ALLOCATOR);
  assert.equal(p.preload, LIBS[DEFAULT_ALLOCATOR as keyof typeof LIBS]);
  assert.match(p.why, /lade's default/);
  // Other preloads stay, first (a wrapper of malloc keeps wrapping it).
  const q = plan({ LD_PRELOAD: "/opt/libtrace.so /opt/libx.so", LADE_ALLOCATOR: "jemalloc" });
  assert.equal(q.action, "exec");
  assert.equal(q.preload, `/opt/libtrace.so:/opt/libx.so:${LIBS.jemalloc}`);
  assert.match(q.why, /LADE_ALLOCATOR=jemalloc/);
});

Deno.test("an absent library leaves glibc with lade's thresholds, and says what to install", () => {
  const p = plan({}, ["jemalloc"]);
  assert.equal(p.action, "keep");
  assert.equal(p.name, "glibc");
  assert.match(p.why, /glibc malloc with lade's thresholds/);
  assert.match(
    p.why,
    /not installed: no libtcmalloc_minimal\.so\.4 \(apt-get install libtcmalloc-minimal4/,
  );
  const q = plan({ LADE_ALLOCATOR: "mimalloc", LADE_MALLOC_TUNING: "0" }, []);
  assert.equal(q.name, "glibc");
  assert.match(q.why, /as it comes: LADE_MALLOC_TUNING=0.*mimalloc \(LADE_ALLOCATOR=mimalloc\)/);
});

Deno.test("a user's own preload is kept; lade's inherited one is taken as the default", () => {
  const user = plan({ LD_PRELOAD: "/usr/lib/libjemalloc.so.1" });
  assert.deepEqual(
    [user.action, user.name, user.library],
    ["keep", "jemalloc", "/usr/lib/libjemalloc.so.1"],
  );
  assert.match(user.why, /user's LD_PRELOAD/);
  // A rank or a test shard: the preload and marker come from a parent lade.
  const rank = plan({ LD_PRELOAD: LIBS.tcmalloc, [EXEC_MARKER_ENV]: "42" });
  assert.deepEqual([rank.action, rank.name], ["keep", "tcmalloc"]);
  assert.match(rank.why, /lade's default/);
  // ... unless LADE_ALLOCATOR asks for another: swapped, not added.
  const swap = plan({
    LD_PRELOAD: `/opt/a.so:${LIBS.tcmalloc}`,
    [EXEC_MARKER_ENV]: "42",
    LADE_ALLOCATOR: "mimalloc",
  });
  assert.deepEqual([swap.action, swap.preload], ["exec", `/opt/a.so:${LIBS.mimalloc}`]);
  const glibc = plan({
    LD_PRELOAD: LIBS.tcmalloc,
    [EXEC_MARKER_ENV]: "42",
    LADE_ALLOCATOR: "glibc",
  });
  assert.deepEqual([glibc.action, glibc.name, glibc.preload], ["exec", "glibc", ""]);
});

Deno.test("the re-execution happens once: a failed preload does not loop", () => {
  const p = plan({ [EXEC_MARKER_ENV]: "100" });
  assert.deepEqual([p.action, p.name], ["keep", "glibc"]);
  assert.match(p.why, /preloading \/lib\/x\/libtcmalloc_minimal\.so\.4 failed/);
  const g = plan({ [EXEC_MARKER_ENV]: "100", LD_PRELOAD: LIBS.jemalloc, LADE_ALLOCATOR: "glibc" });
  assert.equal(g.action, "keep");
});

Deno.test("an unknown LADE_ALLOCATOR is bad input naming it", () => {
  assert.throws(
    () => plan({ LADE_ALLOCATOR: "hoard" }),
    (e) => e instanceof InputError && e.parameter === "LADE_ALLOCATOR" && /hoard/.test(e.message),
  );
  assert.equal(plan({ LADE_ALLOCATOR: " TCMalloc " }).name, "tcmalloc");
});

/** This process's environment without any allocator choice, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.LD_PRELOAD;
  delete env[EXEC_MARKER_ENV];
  delete env.LADE_ALLOCATOR;
  return { ...env, ...extra };
}

async function run(args: string[], env: Record<string, string>) {
  const proc = new Deno.Command(Deno.execPath(), {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const out = await proc.output();
  const dec = new TextDecoder();
  return {
    pid: proc.pid,
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("lade starts again in place with the default allocator: the same PID, the library mapped", async () => {
  const r = await run(["run", "-A", child, "a b", "--x"], cleanEnv());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.pid, r.pid, "a re-execution in place, not a child process");
  assert.deepEqual(out.argv, ["a b", "--x"], "the arguments survive the re-execution");
  const lib = findAllocatorLibrary(DEFAULT_ALLOCATOR as Exclude<AllocatorName, "glibc">);
  if (lib === undefined) {
    assert.equal(out.status.name, "glibc");
    assert.match(out.status.why, /not installed/);
    return;
  }
  assert.deepEqual(out.mapped.map((m: { name: string }) => m.name), [DEFAULT_ALLOCATOR]);
  assert.equal(out.status.name, DEFAULT_ALLOCATOR);
});

/** The allocators installed here (glibc always). */
const INSTALLED = ALLOCATORS.filter((a) =>
  a === "glibc" || findAllocatorLibrary(a as Exclude<AllocatorName, "glibc">) !== undefined
);

Deno.test("info names the allocator in use and why, for each LADE_ALLOCATOR", async () => {
  const results = await Promise.all(
    INSTALLED.map((a) =>
      run(["run", "-A", main, "info", "--json"], cleanEnv({ LADE_ALLOCATOR: a }))
    ),
  );
  results.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr);
    const { allocator } = JSON.parse(r.stdout);
    assert.equal(allocator.name, INSTALLED[i]);
    assert.match(allocator.why, new RegExp(`LADE_ALLOCATOR=${INSTALLED[i]}`));
    if (INSTALLED[i] === "glibc") assert.equal(allocator.glibc_thresholds, true);
    else assert.match(allocator.library, new RegExp(`lib${INSTALLED[i]}`));
  });
  const bad = await run(["run", "-A", main, "info"], cleanEnv({ LADE_ALLOCATOR: "hoard" }));
  assert.equal(bad.code, 2);
  assert.deepEqual(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.match(
    bad.stderr,
    /^lade: error: LADE_ALLOCATOR: must be glibc, tcmalloc, jemalloc, mimalloc; got 'hoard'/,
  );
});

Deno.test({
  name: "a training and an evaluation give the same numbers under each allocator",
  sanitizeResources: false,
  fn: async () => {
    const root = await writeFixture();
    const config = `${root}/tiny.yaml`;
    await Deno.writeTextFile(
      config,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    const once = async (a: string) => {
      const env = cleanEnv({ LADE_ALLOCATOR: a });
      const out = `${root}/run-${a}`;
      const t = await run(["run", "-A", main, "train", "--config", config, "--out", out], env);
      assert.equal(t.code, 0, t.stderr);
      const e = await run(
        [
          "run",
          "-A",
          main,
          "evaluate",
          "--run",
          out,
          "--shift",
          "forward5",
          "--json",
          "--no-report",
        ],
        env,
      );
      assert.equal(e.code, 0, e.stderr);
      // Every logged value but the clock's.
      const metrics = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map(
        (l) => {
          const { images_per_sec: _r, seconds: _s, time: _t, ...rest } = JSON.parse(l);
          return rest;
        },
      );
      return { metrics, evaluation: JSON.parse(e.stdout) };
    };
    // Two at a time (each is one thread).
    const results: Awaited<ReturnType<typeof once>>[] = [];
    for (let i = 0; i < INSTALLED.length; i += 2) {
      results.push(...await Promise.all(INSTALLED.slice(i, i + 2).map(once)));
    }
    assert.equal(results[0].metrics.length, 1);
    assert.ok(Number.isFinite(results[0].metrics[0].loss));
    for (let i = 1; i < results.length; i++) {
      assert.deepEqual(results[i].metrics, results[0].metrics, INSTALLED[i]);
      assert.deepEqual(results[i].evaluation, results[0].evaluation, INSTALLED[i]);
    }
    await Deno.remove(root, { recursive: true });
  },
});
