import assert from "node:assert/strict";
import {
  OutputWriteError,
  temporaryPath,
  writeFileAtomic,
  writeFilesAtomic,
  writeReason,
} from "../lib/fs.ts";

Deno.test("writeFileAtomic writes text, bytes and through a path-taking writer", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFileAtomic(`${dir}/a.txt`, "héllo\n");
    assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "héllo\n");
    await writeFileAtomic(`${dir}/a.txt`, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await Deno.readFile(`${dir}/a.txt`), new Uint8Array([1, 2, 3]));
    await writeFileAtomic(`${dir}/b.bin`, (tmp) => Deno.writeFileSync(tmp, new Uint8Array([9])));
    assert.deepEqual(await Deno.readFile(`${dir}/b.bin`), new Uint8Array([9]));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["a.txt", "b.bin"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed write leaves the old file and no temporary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/keep.json`;
    await writeFileAtomic(path, "old");
    await assert.rejects(
      () =>
        writeFileAtomic(path, (tmp) => {
          Deno.writeTextFileSync(tmp, "half");
          throw new Error("writer failed");
        }),
      /writer failed/,
    );
    assert.equal(await Deno.readTextFile(path), "old");
    await assert.rejects(() => Deno.stat(temporaryPath(path)), Deno.errors.NotFound);
    // A folder that does not exist: the error is Deno's, nothing is left behind.
    await assert.rejects(() => writeFileAtomic(`${dir}/none/x.txt`, "x"), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFilesAtomic: all or nothing, and the error names the file and what is intact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFileAtomic(`${dir}/a.txt`, "old a");
    const failing = (tmp: string) => {
      Deno.writeTextFileSync(tmp, "half");
      throw new Deno.errors.NotSupported("No space left on device (os error 28): write 'x'");
    };
    await assert.rejects(
      () => writeFilesAtomic([[`${dir}/a.txt`, "new a"], [`${dir}/b.txt`, failing]]),
      (e: unknown) =>
        e instanceof OutputWriteError && e.path === `${dir}/b.txt` &&
        e.message ===
          `cannot write ${dir}/b.txt: no space left on device; nothing was written ` +
            "(files already there are unchanged)",
    );
    // a.txt was written to its temporary before b failed: neither changed, no temporary left.
    assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "old a");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.txt"]);
    // One file: whether it was there before is said.
    await assert.rejects(
      () => writeFilesAtomic([[`${dir}/a.txt`, failing]]),
      /cannot write \S+a\.txt: no space left on device; \S+a\.txt is unchanged$/,
    );
    await assert.rejects(
      () => writeFilesAtomic([[`${dir}/c.txt`, failing]]),
      /cannot write \S+c\.txt: no space left on device; nothing was written$/,
    );
    assert.deepEqual(await writeFilesAtomic([[`${dir}/a.txt`, "new a"], [`${dir}/b.txt`, "b"]]), [
      `${dir}/a.txt`,
      `${dir}/b.txt`,
    ]);
    assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "new a");
    assert.equal(writeReason(new Error("File too large (os error 27)")), "file too large");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
