import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("setup without root and with packages missing prints what to install and fails", async () => {
  if (Deno.uid() !== 0) return; // dropping privileges needs root; CI runs as root
  const dir = await Deno.makeTempDir({ prefix: "lade-setup-" });
  try {
    // A dpkg-query that knows no package: everything looks missing.
    await Deno.writeTextFile(`${dir}/dpkg-query`, "#!/bin/sh\nexit 1\n");
    await Deno.chmod(`${dir}/dpkg-query`, 0o755);
    // A copy of the script where the unprivileged user can read it (the
    // checkout itself may sit in a private folder).
    await Deno.mkdir(`${dir}/repo/scripts`, { recursive: true });
    await Deno.copyFile(`${root}scripts/setup.sh`, `${dir}/repo/scripts/setup.sh`);
    for (const d of [dir, `${dir}/repo`, `${dir}/repo/scripts`]) await Deno.chmod(d, 0o755);
    await Deno.chmod(`${dir}/repo/scripts/setup.sh`, 0o755);
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "env",
        `PATH=${dir}:/usr/bin:/bin`,
        "bash",
        `${dir}/repo/scripts/setup.sh`,
      ],
      cwd: dir,
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /missing Debian packages: libtorch-dev cmake g\+\+/);
    assert.match(stderr, /sudo apt-get install .*dataset-fashion-mnist.*libopenblas0-openmp/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
