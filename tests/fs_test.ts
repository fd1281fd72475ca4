import assert from "node:assert/strict";
import { temporaryPath, writeFileAtomic } from "../lib/fs.ts";

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
