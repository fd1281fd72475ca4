import assert from "node:assert/strict";
import {
  OutputWriteError,
  removeStaleTemporaries,
  removeTemporariesSync,
  temporaryPath,
  writeDirAtomic,
  writeFileAtomic,
  writeFileAtomicSync,
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

Deno.test("writeDirAtomic makes a folder whole, replaces an old one, and keeps it on failure", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/report`;
    const names = async () => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    const written = await writeDirAtomic(dir, async (tmp) => {
      // Nothing of the new folder is visible until it is complete.
      await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
      await Deno.writeTextFile(`${tmp}/a.txt`, "one");
      return "done";
    });
    assert.equal(written, "done");
    assert.deepEqual(await names(), ["a.txt"]);
    // A second folder replaces the first as a whole (no stale a.txt among the new files).
    await writeDirAtomic(dir, async (tmp) => {
      await Deno.writeTextFile(`${tmp}/b.txt`, "two");
      assert.deepEqual(await names(), ["a.txt"]);
    });
    assert.deepEqual(await names(), ["b.txt"]);
    // A failure leaves the old folder as it was, and no temporary.
    await assert.rejects(
      () =>
        writeDirAtomic(dir, async (tmp) => {
          await Deno.writeTextFile(`${tmp}/c.txt`, "three");
          throw new Error("disk full");
        }),
      /disk full/,
    );
    assert.deepEqual(await names(), ["b.txt"]);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["report"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("removeTemporariesSync removes the temporaries of the writes under way, and only those", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/kept.txt`, "old");
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    let inFile!: () => void, inDir!: () => void;
    const reached = [new Promise<void>((r) => inFile = r), new Promise<void>((r) => inDir = r)];
    // A file write and a folder write, both stopped half-way.
    const file = writeFileAtomic(`${root}/kept.txt`, async (tmp) => {
      await Deno.writeTextFile(tmp, "new, half");
      inFile();
      await gate;
    });
    const folder = writeDirAtomic(`${root}/dir`, async (tmp) => {
      await Deno.writeTextFile(`${tmp}/x`, "half");
      inDir();
      await gate;
    });
    // (They fail once their temporaries are gone: that is the point.)
    const settled = Promise.allSettled([file, folder]);
    await Promise.all(reached);
    const removed = removeTemporariesSync().sort();
    assert.deepEqual(removed, [
      temporaryPath(`${root}/dir`),
      temporaryPath(`${root}/kept.txt`),
    ]);
    // What a process that exits now leaves: the old file, no folder, no temporary.
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["kept.txt"]);
    assert.equal(await Deno.readTextFile(`${root}/kept.txt`), "old");
    release();
    await settled;
    assert.deepEqual(removeTemporariesSync(), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a stop while writeDirAtomic has moved the old folder aside puts it back", async () => {
  const root = await Deno.makeTempDir();
  const rename = Deno.rename;
  try {
    await Deno.mkdir(`${root}/report`);
    await Deno.writeTextFile(`${root}/report/index.html`, "old");
    // The moment between the two renames: the old folder aside, the new one not in place.
    let aside!: () => void;
    const moved = new Promise<void>((r) => aside = r);
    const hold = new Promise<void>(() => {});
    Deno.rename = async (from: string | URL, to: string | URL) => {
      await rename(from, to);
      if (String(to).endsWith(".old")) {
        aside();
        await hold;
      }
    };
    void writeDirAtomic(`${root}/report`, async (_tmp, put) => {
      await put("index.html", "new");
    });
    await moved;
    removeTemporariesSync();
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["report"]);
    assert.equal(await Deno.readTextFile(`${root}/report/index.html`), "old");
  } finally {
    Deno.rename = rename;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("removeStaleTemporaries removes the temporary folders of dead processes too", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    await Deno.mkdir(`${root}/report.${dead.pid}.tmp`);
    await Deno.writeTextFile(`${root}/report.${dead.pid}.tmp/index.html`, "half");
    await Deno.mkdir(`${root}/mine.${Deno.pid}.tmp`);
    assert.deepEqual(await removeStaleTemporaries(root), [`report.${dead.pid}.tmp`]);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), [
      `mine.${Deno.pid}.tmp`,
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeFileAtomicSync replaces a file; with exclusive it only creates one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/lade.lock`;
    assert.equal(writeFileAtomicSync(path, "first\n", { exclusive: true }), true);
    assert.equal(writeFileAtomicSync(path, "second\n", { exclusive: true }), false);
    assert.equal(await Deno.readTextFile(path), "first\n");
    assert.equal(writeFileAtomicSync(path, new Uint8Array([7, 8])), true);
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([7, 8]));
    // No temporary is left, whichever way each write went.
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["lade.lock"]);
    assert.throws(() => writeFileAtomicSync(`${dir}/none/x`, "x"), Deno.errors.NotFound);
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

/** Whether strace can trace a child here (installed, and ptrace allowed). */
function straceWorks(): boolean {
  try {
    return new Deno.Command("strace", { args: ["-o", "/dev/null", "true"], stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const strace = straceWorks();

Deno.test({
  name: strace
    ? "the atomic writers sync the file before the rename (or link) and the folder after it"
    : "the atomic writers sync the file and its folder (skipped: strace not usable here)",
  ignore: !strace,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const script = `${dir}/write.ts`;
      const fs = new URL("../lib/fs.ts", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { writeFileAtomic, writeFileAtomicSync, writeFilesAtomic } from "${fs}";\n` +
          `await writeFileAtomic("${dir}/out/a.json", "a");\n` +
          `writeFileAtomicSync("${dir}/out/b.json", "b");\n` +
          `writeFileAtomicSync("${dir}/out/c.lock", "c", { exclusive: true });\n` +
          `await writeFilesAtomic([["${dir}/out/d.json", "d"], ["${dir}/out/e.json", "e"]]);\n`,
      );
      await Deno.mkdir(`${dir}/out`);
      const traced = await new Deno.Command("strace", {
        // -y: file descriptors with their paths, so fsync(fd) says what it synced.
        args: [
          "-f",
          "-y",
          "-qq",
          "-o",
          `${dir}/trace`,
          "-e",
          "trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat",
          Deno.execPath(),
          "run",
          "-A",
          "--no-config",
          "--no-lock",
          script,
        ],
      }).output();
      assert.ok(traced.success, new TextDecoder().decode(traced.stderr));
      // The calls on the files of out/, in order, with paths relative to out/.
      const calls = (await Deno.readTextFile(`${dir}/trace`)).split("\n")
        .filter((l) => l.includes(`${dir}/out`))
        .map((l) =>
          l.replace(/^\d+\s+/, "").replaceAll(`${dir}/out`, "out").replace(/\.\d+\.tmp/g, ".TMP")
            .replace(/AT_FDCWD<[^>]*>/g, "AT_FDCWD").replace(/\(\d+</, "(<")
            .replace(/\s+= 0$/, "")
        );
      assert.deepEqual(calls, [
        "fsync(<out/a.json.TMP>)",
        'rename("out/a.json.TMP", "out/a.json")',
        "fsync(<out>)",
        "fsync(<out/b.json.TMP>)",
        'rename("out/b.json.TMP", "out/b.json")',
        "fsync(<out>)",
        "fsync(<out/c.lock.TMP>)",
        'linkat(AT_FDCWD, "out/c.lock.TMP", AT_FDCWD, "out/c.lock", 0)',
        "fsync(<out>)",
        // Files that belong together: every one synced, then the renames, then the folder once.
        "fsync(<out/d.json.TMP>)",
        "fsync(<out/e.json.TMP>)",
        'rename("out/d.json.TMP", "out/d.json")',
        'rename("out/e.json.TMP", "out/e.json")',
        "fsync(<out>)",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
