import assert from "node:assert/strict";
import { expandHostList, firstHost, parseRankEnv } from "../../lib/distributed/env.ts";
import { InputError } from "../../lib/errors.ts";

function throwsInput(fn: () => unknown, parameter: string, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.parameter, parameter);
    assert.match(e.message, pattern);
    assert.equal(e.message.split("\n").length, 1);
    return true;
  });
}

Deno.test("no launcher variables: not a distributed rank", () => {
  assert.equal(parseRankEnv({}), undefined);
  assert.equal(parseRankEnv({ MASTER_ADDR: "h", MASTER_PORT: "1234" }), undefined);
});

Deno.test("torchrun's variables", () => {
  assert.deepEqual(
    parseRankEnv({
      RANK: "9",
      WORLD_SIZE: "16",
      LOCAL_RANK: "1",
      LOCAL_WORLD_SIZE: "8",
      MASTER_ADDR: "node01",
      MASTER_PORT: "29400",
    }),
    {
      rank: 9,
      worldSize: 16,
      localRank: 1,
      localWorldSize: 8,
      masterAddr: "node01",
      masterPort: 29400,
      launcher: "torchrun",
    },
  );
  // LOCAL_RANK defaults to RANK (one node); MASTER_PORT to torchrun's 29500.
  assert.deepEqual(parseRankEnv({ RANK: "1", WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1" }), {
    rank: 1,
    worldSize: 2,
    localRank: 1,
    masterAddr: "127.0.0.1",
    masterPort: 29500,
    launcher: "torchrun",
  });
});

Deno.test("torchrun's variables win over Slurm's (torchrun inside srun)", () => {
  const env = parseRankEnv({
    RANK: "3",
    WORLD_SIZE: "4",
    LOCAL_RANK: "3",
    MASTER_ADDR: "a",
    MASTER_PORT: "1",
    SLURM_PROCID: "0",
    SLURM_NTASKS: "1",
  });
  assert.equal(env?.launcher, "torchrun");
  assert.equal(env?.rank, 3);
});

Deno.test("bad torchrun settings are one line naming the variable", () => {
  throwsInput(
    () => parseRankEnv({ RANK: "0", WORLD_SIZE: "2", MASTER_PORT: "29500" }),
    "MASTER_ADDR",
    /^MASTER_ADDR: is not set/,
  );
  throwsInput(() => parseRankEnv({ RANK: "0", MASTER_ADDR: "h" }), "WORLD_SIZE", /is not set/);
  throwsInput(
    () => parseRankEnv({ RANK: "2", WORLD_SIZE: "2", MASTER_ADDR: "h" }),
    "RANK",
    /2 is not below WORLD_SIZE \(2\)/,
  );
  throwsInput(
    () => parseRankEnv({ RANK: "x", WORLD_SIZE: "2", MASTER_ADDR: "h" }),
    "RANK",
    /'x' is not a non-negative integer/,
  );
  throwsInput(
    () => parseRankEnv({ RANK: "0", WORLD_SIZE: "0", MASTER_ADDR: "h" }),
    "WORLD_SIZE",
    /0 is outside 1\.\./,
  );
  throwsInput(
    () => parseRankEnv({ RANK: "0", WORLD_SIZE: "2", MASTER_ADDR: "h", MASTER_PORT: "70000" }),
    "MASTER_PORT",
    /70000 is outside 1\.\.65535/,
  );
});

Deno.test("Slurm's variables, rank 0's host from the node list", () => {
  assert.deepEqual(
    parseRankEnv({
      SLURM_PROCID: "5",
      SLURM_NTASKS: "8",
      SLURM_LOCALID: "1",
      SLURM_NTASKS_PER_NODE: "4",
      SLURM_JOB_NODELIST: "gpu[07-08],cpu1",
      SLURM_JOB_ID: "123456",
    }),
    {
      rank: 5,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 4,
      masterAddr: "gpu07",
      masterPort: 10000 + 123456 % 50000,
      launcher: "slurm",
    },
  );
  // MASTER_ADDR and MASTER_PORT, when given, win.
  const given = parseRankEnv({
    SLURM_PROCID: "0",
    SLURM_NTASKS: "2",
    SLURM_LOCALID: "0",
    SLURM_JOB_NODELIST: "n[1-2]",
    MASTER_ADDR: "10.0.0.5",
    MASTER_PORT: "23456",
  });
  assert.equal(given?.masterAddr, "10.0.0.5");
  assert.equal(given?.masterPort, 23456);
  // SLURM_NODELIST is the older name.
  assert.equal(
    parseRankEnv({ SLURM_PROCID: "0", SLURM_NTASKS: "1", SLURM_NODELIST: "x[3-4]" })?.masterAddr,
    "x3",
  );
});

Deno.test("bad Slurm settings are one line naming the variable", () => {
  throwsInput(
    () => parseRankEnv({ SLURM_PROCID: "0", SLURM_NTASKS: "2", SLURM_LOCALID: "0" }),
    "MASTER_ADDR",
    /MASTER_ADDR: is not set and SLURM_JOB_NODELIST is not either/,
  );
  throwsInput(
    () => parseRankEnv({ SLURM_PROCID: "2", SLURM_NTASKS: "2", MASTER_ADDR: "h" }),
    "SLURM_PROCID",
    /not below SLURM_NTASKS/,
  );
  throwsInput(
    () => parseRankEnv({ SLURM_PROCID: "0", SLURM_NTASKS: "2", SLURM_JOB_NODELIST: "n[1-" }),
    "SLURM_JOB_NODELIST",
    /cannot take rank 0's host from 'n\[1-'/,
  );
});

Deno.test("Slurm host lists expand", () => {
  assert.deepEqual(expandHostList("node[01-04,07]"), [
    "node01",
    "node02",
    "node03",
    "node04",
    "node07",
  ]);
  assert.deepEqual(expandHostList("a1,b[8-10],c"), ["a1", "b8", "b9", "b10", "c"]);
  assert.deepEqual(expandHostList("gpu[098-101]"), ["gpu098", "gpu099", "gpu100", "gpu101"]);
  assert.deepEqual(expandHostList("rack[1-2]-n[3,5]"), [
    "rack1-n3",
    "rack1-n5",
    "rack2-n3",
    "rack2-n5",
  ]);
  assert.deepEqual(expandHostList("n[1-2].cluster.org"), ["n1.cluster.org", "n2.cluster.org"]);
  assert.deepEqual(expandHostList("single"), ["single"]);
  assert.equal(firstHost("node[0003-9999],login"), "node0003");
  assert.equal(firstHost("login,node[1-2]"), "login");
  for (const bad of ["n[1-", "n]1[", "n[a-b]", "n[3-1]", "n[1-2"]) {
    assert.throws(() => expandHostList(bad), InputError, bad);
  }
  assert.throws(() => expandHostList("n[1-1000000]", 1000), /more than 1000 hosts/);
});
