/**
 * The single file's shell header (scripts/self_extract.ts), with a fake
 * payload whose `deno` is a shell script: a damaged file is one line and
 * exit 1 and leaves no half-unpacked folder (before: gzip and tar noise and
 * a temporary folder left behind); an emptied unpacked cache is unpacked
 * again (before: the binary printed nothing and exited 0).
 */

import assert from "node:assert/strict";
import { selfExtractingHeader } from "../../scripts/self_extract.ts";

const dec = new TextDecoder();

async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "self-extracting header: damaged payload, emptied cache",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const stage = `${dir}/stage`;
      await Deno.mkdir(stage);
      // A "deno" that says what it was asked to run.
      await Deno.writeTextFile(`${stage}/deno`, '#!/bin/sh\necho "ran $6 with $7"\n');
      await Deno.chmod(`${stage}/deno`, 0o755);
      await Deno.writeTextFile(`${stage}/lade.js`, "console.log('lade');\n".repeat(50));
      await Deno.writeTextFile(`${stage}/liblade.so`, "library");
      assert.equal(
        (await sh("tar", [
          "-czf",
          `${dir}/payload.tar.gz`,
          "-C",
          stage,
          "deno",
          "lade.js",
          "liblade.so",
        ]))
          .code,
        0,
      );
      const header = new TextEncoder().encode(selfExtractingHeader("test1234", false));
      const payload = await Deno.readFile(`${dir}/payload.tar.gz`);
      const binary = `${dir}/lade`;
      await Deno.writeFile(binary, new Uint8Array([...header, ...payload]), { mode: 0o755 });
      const env = { XDG_CACHE_HOME: `${dir}/cache`, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
      const app = `${dir}/cache/lade/app-test1234`;

      const first = await sh(binary, ["info"], env);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, `ran ${app}/lade.js with info\n`);

      // Once unpacked, a start needs no tool on PATH (the check is shell builtins).
      const bare = await sh(binary, ["info"], { ...env, PATH: `${dir}/no-such-folder` });
      assert.equal(bare.stdout, `ran ${app}/lade.js with info\n`, bare.stderr);

      // The unpacked lade.js emptied: unpacked again, not run empty.
      await Deno.writeTextFile(`${app}/lade.js`, "");
      const again = await sh(binary, ["info"], env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `ran ${app}/lade.js with info\n`);
      assert.ok((await Deno.stat(`${app}/lade.js`)).size > 0);
      // A missing file too.
      await Deno.remove(`${app}/liblade.so`);
      assert.equal((await sh(binary, ["x"], env)).stdout, `ran ${app}/lade.js with x\n`);
      assert.ok((await Deno.stat(`${app}/liblade.so`)).isFile);

      // A damaged copy (its payload's middle overwritten) with no cache yet.
      const damaged = new Uint8Array([...header, ...payload]);
      for (let i = header.length + 30; i < damaged.length - 30; i += 3) damaged[i] ^= 0x5a;
      await Deno.writeFile(binary, damaged, { mode: 0o755 });
      await Deno.remove(`${dir}/cache`, { recursive: true });
      const bad = await sh(binary, ["info"], env);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "");
      assert.equal(
        bad.stderr,
        `lade: error: ${binary} is damaged (its payload does not unpack); copy or build it again\n`,
      );
      assert.deepEqual([...Deno.readDirSync(`${dir}/cache/lade`)], [], "nothing left unpacked");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
