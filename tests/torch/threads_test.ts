/**
 * The default thread count (lib/torch/threads.ts): /proc parsed by hand-made
 * texts, the cores other processes use computed by hand, the hysteresis of
 * the choice, the governor over given samples, and lade itself beside a busy
 * process (it leaves that core alone) or told by OMP_NUM_THREADS.
 */

import assert from "node:assert/strict";
import {
  allowedCpus,
  type CpuSample,
  othersBusy,
  parseCpuSample,
  ThreadGovernor,
  threadsFor,
} from "../../lib/torch/threads.ts";

const STAT = `cpu  300 0 100 500 20 0 0 0 0 0
cpu0 100 0 50 200 10 0 0 0 0 0
cpu1 150 0 40 250 10 0 0 5 0 0
cpu2 50 0 10 50 0 0 0 0 0 0
intr 1 2 3
`;
// A command name with spaces and parentheses; utime 40, stime 7.
const SELF = "123 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 40 7 0 0 20 0 3 0 0 0 0";

Deno.test("a CPU sample: the allowed CPUs' busy and total ticks, and this process's own", () => {
  assert.deepEqual([...allowedCpus("Name:\tx\nCpus_allowed_list:\t0-1,3\n")!], [0, 1, 3]);
  const s = parseCpuSample(STAT, SELF, "Cpus_allowed_list:\t0-1\n");
  // cpu0: busy 100+50 = 150 of 360; cpu1: 150+40+5 (steal) = 195 of 455.
  assert.deepEqual(s, { busy: 345, total: 815, self: 47, cpus: 2 });
  assert.equal(parseCpuSample(STAT, SELF, "").cpus, 3, "no list: every CPU");
});

Deno.test("the cores others kept busy: busy ticks less this process's, per CPU tick", () => {
  const a: CpuSample = { busy: 1000, total: 4000, self: 300, cpus: 2 };
  // 100 ticks a CPU; 150 busy ticks, 60 of them this process's: others used 0.9 of a core.
  const b: CpuSample = { busy: 1150, total: 4200, self: 360, cpus: 2 };
  assert.ok(Math.abs(othersBusy(a, b)! - 0.9) < 1e-12);
  // Under 10 ticks a CPU: too short a window to say.
  assert.equal(othersBusy(a, { ...b, total: 4010 }), undefined);
  assert.equal(othersBusy(a, { ...b, cpus: 3 }), undefined);
});

Deno.test("the choice: one core fewer past half a busy core, back under a quarter", () => {
  assert.equal(threadsFor(2, 0.05), 2);
  assert.equal(threadsFor(2, 0.4), 2);
  assert.equal(threadsFor(2, 0.67), 1, "two spinning threads beside a busy core");
  assert.equal(threadsFor(2, 1.9), 1, "at least one");
  assert.equal(threadsFor(2, 0.4, 1), 1, "no flip-flop near the edge");
  assert.equal(threadsFor(2, 0.2, 1), 2);
  assert.equal(threadsFor(8, 2.6), 5);
  assert.equal(threadsFor(8, 0.1, 5), 8);
});

Deno.test("the governor: a first choice from the start, then revisions between looks", () => {
  let t = 0;
  // Each look: 100 ticks a CPU on 2 CPUs, others busy `others[k]` cores.
  const others = [1.0, 1.0, 0.0];
  let k = -1;
  let busy = 0, self = 0, total = 0;
  const sample = (): CpuSample => {
    if (k >= 0) {
      busy += others[k] * 100 + 100;
      self += 100;
      total += 200;
    }
    k++;
    t++;
    return { busy, total, self, cpus: 2 };
  };
  const g = new ThreadGovernor({ cores: 2, sample, everyMs: 0 });
  const first = g.initial(0);
  assert.equal(first.threads, 1);
  assert.match(first.why, /1 of 2 cores busy \(other processes used 1\.0\)/);
  assert.equal(g.revise(), undefined, "still busy: no change");
  const back = g.revise();
  assert.equal(back?.threads, 2);
  assert.match(back!.why, /all 2 cores free/);
  assert.ok(t >= 3);
});

/** lade's environment without a thread count or allocator choice. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const e = Deno.env.toObject();
  delete e.OMP_NUM_THREADS;
  return { ...e, ...extra };
}

const main = new URL("../../main.ts", import.meta.url).pathname;

async function info(vars: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "info", "--json"],
    env: vars,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("info: OMP_NUM_THREADS fixes the count; beside a busy process the default leaves its core", async () => {
  const told = await info(env({ OMP_NUM_THREADS: "1" }));
  assert.equal(told.threads, 1);
  assert.equal(told.threads_why, "OMP_NUM_THREADS=1");
  const cores = navigator.hardwareConcurrency;
  if (cores < 2) return;
  const busy = new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn();
  try {
    const beside = await info(env());
    assert.ok(beside.threads <= cores - 1, JSON.stringify(beside));
    assert.match(beside.threads_why, /^the default: \d+ of \d+ cores busy \(other processes used/);
  } finally {
    busy.kill("SIGKILL");
    await busy.status;
  }
});
