/**
 * `lade train` as a distributed job on this machine (Gloo on loopback): the
 * local launcher against one process, faults (a rank killed, a rank that
 * hangs), Ctrl-C, resuming, and the configurations every rank would reject.
 */
import assert from "node:assert/strict";
import { freePort } from "../../lib/distributed/launcher.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { writeFixture } from "./fixture.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

interface Output {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** `lade train ARGS` (with extra environment), to the end. */
async function lade(args: string[], env: Record<string, string> = {}): Promise<Output> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "train", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** A running `lade train ARGS` whose stdout is read line by line. */
class Running {
  readonly child: Deno.ChildProcess;
  #stdout = "";
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "train", ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Reads stdout until `pattern` appears (or the output ends). */
  async waitFor(pattern: RegExp): Promise<void> {
    while (!pattern.test(this.#stdout)) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error(`output ended without ${pattern}:\n${this.#stdout}`);
      this.#stdout += value;
    }
  }

  /** Waits for the end; the rest of the output. */
  async end(): Promise<Output> {
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) break;
      this.#stdout += value;
    }
    const status = await this.child.status;
    return {
      code: status.code,
      signal: status.signal,
      stdout: this.#stdout,
      stderr: await this.#stderr,
    };
  }
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, pattern.flags + "g"))?.length ?? 0;
}

function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}

/** The shift grid's table in a command's output. */
function grid(stdout: string): string {
  const m = /top-1 accuracy \(%\) across the shift grid\n[\s\S]*?\nmean[^\n]*/.exec(stdout);
  assert.ok(m, stdout);
  return m[0];
}

async function recipe(root: string, epochs: number, batch = 16): Promise<string> {
  const path = `${root}/recipe.yaml`;
  await Deno.writeTextFile(
    path,
    `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
      `train:\n  epochs: ${epochs}\n  batch_size: ${batch}\n  eval_batch_size: 64\nthreads: 1\n`,
  );
  return path;
}

/** The processes the launcher `pid` started, by rank (from their environment). */
async function ranksOf(pid: number): Promise<Map<number, number>> {
  const ranks = new Map<number, number>();
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const children = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/children`);
    for (const child of children.trim().split(/\s+/).filter((s) => s !== "").map(Number)) {
      const env = (await Deno.readTextFile(`/proc/${child}/environ`)).split("\0");
      const rank = env.find((v) => v.startsWith("RANK="));
      if (rank !== undefined) ranks.set(Number(rank.slice(5)), child);
    }
  }
  return ranks;
}

Deno.test("train --nproc-per-node 2: rank 0 alone prints, the grid once (a single-process evaluation's); losses follow one process's", async () => {
  const root = await writeFixture();
  try {
    const config = await recipe(root, 2);
    const [two, one] = await Promise.all([
      lade(["--config", config, "--nproc-per-node", "2", "--out", `${root}/two`]),
      lade(["--config", config, "--out", `${root}/one`]),
    ]);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.stderr, "");
    assert.match(two.stdout, /; 2 ranks \(gloo\), 8 samples of each batch of 16 a rank\n/);
    assert.equal(count(two.stdout, /^epoch 1\/2 /m), 1, two.stdout);
    assert.equal(count(two.stdout, /top-1 accuracy \(%\) on the uniform test set/), 1);
    assert.equal(count(two.stdout, /top-1 accuracy \(%\) across the shift grid/), 1);
    // The grid of the gathered logits is the grid of the same weights in one process.
    const again = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        main,
        "evaluate",
        "--run",
        `${root}/two`,
        "--shift",
        "all",
        "--no-report",
      ],
      stdout: "piped",
    }).output();
    assert.equal(grid(decoder.decode(again.stdout)), grid(two.stdout));
    // Batch norm normalises per rank, so the losses agree closely, not exactly.
    const a = await readMetrics(`${root}/two`), b = await readMetrics(`${root}/one`);
    assert.equal(a.length, 2);
    for (let e = 0; e < 2; e++) {
      const rel = Math.abs(a[e].loss - b[e].loss) / b[e].loss;
      assert.ok(rel < 0.05, `epoch ${e + 1}: loss ${a[e].loss} against ${b[e].loss}`);
    }
    assert.equal((await readManifest(`${root}/two`))!.worldSize, 2);
    await Deno.stat(`${root}/two/report`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a rank killed mid-epoch: the other exits at once with one line, the checkpoint stays, --resume finishes", async () => {
  const root = await writeFixture(120);
  try {
    const config = await recipe(root, 4);
    const out = `${root}/run`;
    const port = String(freePort());
    // A timeout far beyond a loaded machine's start-up: ending before it is
    // the dead peer noticed, not the timeout.
    const args = ["--config", config, "--out", out, "--dist-timeout", "120"];
    const env = (rank: number) => ({
      RANK: String(rank),
      WORLD_SIZE: "2",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: port,
    });
    const rank0 = new Running(args, env(0));
    const rank1 = new Running(args, env(1));
    await rank0.waitFor(/^epoch 1\/4 /m);
    const killed = Date.now();
    rank1.child.kill("SIGKILL");
    const [r0, r1] = await Promise.all([rank0.end(), rank1.end()]);
    const seconds = (Date.now() - killed) / 1000;
    assert.equal(r1.signal, "SIGKILL");
    assert.equal(r0.code, 1, r0.stderr);
    const lines = errorLines(r0.stderr);
    assert.equal(lines.length, 1, r0.stderr);
    assert.match(
      lines[0],
      /^lade: error: distributed [\w-]+: failed on rank 0 of 2: a peer rank exited or the network failed$/,
    );
    assert.ok(seconds < 60, `${seconds} s`);
    // The last complete checkpoint is intact and is what --resume continues.
    const m = (await readManifest(out))!;
    assert.ok(m.epoch >= 1 && m.epoch < 4, String(m.epoch));
    await assert.rejects(() => Deno.stat(`${out}/result.json`), Deno.errors.NotFound);
    const resumed = await lade(["--resume", out, "--nproc-per-node", "2"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stdout,
      new RegExp(`^resuming ${out} at epoch ${m.epoch + 1}, step 0`, "m"),
    );
    assert.equal(count(resumed.stdout, /top-1 accuracy \(%\) across the shift grid/), 1);
    assert.deepEqual((await readMetrics(out)).map((x) => x.epoch), [1, 2, 3, 4]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a rank that hangs: rank 0 gives up after --dist-timeout with one line, the launcher ends the rest and fails", async () => {
  const root = await writeFixture(120);
  try {
    const config = await recipe(root, 4);
    const out = `${root}/run`;
    const launcher = new Running([
      "--config",
      config,
      "--out",
      out,
      "--nproc-per-node",
      "2",
      "--dist-timeout",
      "3",
    ]);
    await launcher.waitFor(/^epoch 1\/4 /m);
    const ranks = await ranksOf(launcher.child.pid);
    assert.equal(ranks.size, 2);
    const stopped = Date.now();
    Deno.kill(ranks.get(1)!, "SIGSTOP");
    const r = await launcher.end();
    const seconds = (Date.now() - stopped) / 1000;
    assert.notEqual(r.code, 0);
    const lines = errorLines(r.stderr);
    // Rank 0's line alone, in lade's terms (no Gloo file names or buffers);
    // the launcher adds nothing to it.
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      /^lade: error: distributed [\w-]+: timed out after 3 s on rank 0 of 2: a peer rank hung or died \(a rank that is stopped or stuck is noticed after the dist timeout\)$/,
    );
    // Not before the timeout; and it does give up (the margin is for a loaded machine).
    assert.ok(seconds >= 3 && seconds < 3 + 30, `${seconds} s`);
    assert.equal(count(r.stdout, /across the shift grid/), 0);
    // The stopped rank was ended too.
    await assert.rejects(() => Deno.stat(`/proc/${ranks.get(1)}/environ`), Deno.errors.NotFound);
    assert.ok((await readManifest(out))!.epoch >= 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("Ctrl-C: the ranks stop after the same step, rank 0 checkpoints; one process resumes it (another world size)", async () => {
  const root = await writeFixture(120);
  try {
    const config = await recipe(root, 3);
    const out = `${root}/run`;
    const launcher = new Running(["--config", config, "--out", out, "--nproc-per-node", "2"]);
    await launcher.waitFor(/^epoch 1\/3 /m);
    launcher.child.kill("SIGINT");
    const r = await launcher.end();
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stdout, /continue with: lade train --resume /);
    // Mid-epoch: the ranks settle a stop at least 8 times an epoch.
    assert.match(r.stdout, /^interrupted in epoch 2 after step \d+; checkpoint written$/m);
    assert.equal(count(r.stdout, /checkpoint written/), 1);
    const m = (await readManifest(out))!;
    assert.equal(m.epoch, 1);
    assert.ok(m.step > 0 && m.worldSize === 2, JSON.stringify(m));
    // One process continues the same global sample order from that step.
    const resumed = await lade(["--resume", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stdout,
      new RegExp(
        `resuming ${out} at epoch 2, step ${m.step} \\(written by 2 rank\\(s\\), continued by 1\\)`,
      ),
    );
    assert.deepEqual((await readMetrics(out)).map((x) => x.epoch), [1, 2, 3]);
    assert.equal(count(resumed.stdout, /across the shift grid/), 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bad distributed configurations: one line each, before any rank trains", async () => {
  const root = await writeFixture(8, 2);
  try {
    const config = await recipe(root, 1);
    const port = String(freePort());
    const rank = (r: number, world: number) => ({
      RANK: String(r),
      WORLD_SIZE: String(world),
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: port,
    });
    const cases: [Promise<Output>, RegExp, number][] = [
      // The batch size comes from the recipe: said as its file and key.
      [
        lade(["--config", config, "--nproc-per-node", "3"]),
        /^lade: error: .*recipe\.yaml: train\.batch_size: the global batch 16 does not divide among 3 ranks \(use a multiple of 3, such as 15 or 18\)$/,
        2,
      ],
      [
        lade(["--config", config], rank(0, 3)),
        /^lade: error: .*recipe\.yaml: train\.batch_size: the global batch 16 does not divide among 3 ranks/,
        2,
      ],
      // Given as a flag: said as the flag.
      [
        lade(["--config", config, "--batch-size", "16", "--nproc-per-node", "3"]),
        /^lade: error: --batch-size: the global batch 16 does not divide among 3 ranks/,
        2,
      ],
      [
        lade(["--config", config], { RANK: "0", WORLD_SIZE: "2" }),
        /^lade: error: MASTER_ADDR: is not set: set it to the host of rank 0/,
        2,
      ],
      [
        lade(["--config", config, "--nproc-per-node", "2", "--backend", "mpi"]),
        /^lade: error: --backend: unknown backend 'mpi' \(use gloo or nccl\)$/,
        2,
      ],
      [
        lade(["--config", config, "--nproc-per-node", "2", "--backend", "nccl"]),
        /^lade: error: --backend: nccl (needs a CUDA build of libtorch with NCCL|runs on CUDA devices, not 'cpu')/,
        2,
      ],
      [
        lade(["--config", config, "--dist-timeout", "1"], rank(1, 2)),
        new RegExp(
          `^lade: error: cannot join the gloo process group: cannot reach the rendezvous at 127\\.0\\.0\\.1:${port} within 1 s \\(rank 1 of 2\\)`,
        ),
        1,
      ],
      [
        lade(["--config", config, "--nproc-per-node", "2", "--dist-timeout", "0"]),
        /^lade: error: invalid --dist-timeout '0': expected seconds > 0, at most 604800 \(a week\)$/,
        2,
      ],
      [
        lade(["--config", config, "--nproc-per-node", "2"], rank(0, 2)),
        /^lade: error: --nproc-per-node: this process is already rank 0 of 2 \(started by torchrun\); drop --nproc-per-node$/,
        2,
      ],
    ];
    for (const [running, pattern, code] of cases) {
      const r = await running;
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
      assert.equal(r.code, code, r.stderr);
      assert.equal(r.stdout, "");
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
