/**
 * Deno opens liblade.so with RTLD_LOCAL; native/src/global_scope.cpp moves
 * libtorch (and, on a GPU machine, CUDA's libraries) into the global symbol
 * scope when the library loads, as PyTorch's Python package does, because
 * cuDNN 9 crashed on its first convolution without it. A small C program
 * opens the library the same way and asks the global scope for a libtorch
 * (c10) symbol.
 */
import assert from "node:assert/strict";
import { nativeLibraryPath } from "../../lib/torch/ffi.ts";

const PROBE = `#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char** argv) {
  if (!dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) { printf("%s\\n", dlerror()); return 2; }
  void* s = dlsym(RTLD_DEFAULT, "_ZN3c1019UndefinedTensorImpl10_singletonE");
  printf(s ? "global\\n" : "local\\n");
  return 0;
}
`;

async function hasCompiler(): Promise<boolean> {
  try {
    return (await new Deno.Command("cc", { args: ["--version"], stdout: "null" }).output()).success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "libtorch's libraries are in the global symbol scope once liblade is loaded locally",
  ignore: !(await hasCompiler()),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/probe.c`, PROBE);
      const cc = await new Deno.Command("cc", {
        args: ["-o", `${dir}/probe`, `${dir}/probe.c`, "-ldl"],
      }).output();
      assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
      const run = await new Deno.Command(`${dir}/probe`, { args: [nativeLibraryPath()] }).output();
      assert.equal(new TextDecoder().decode(run.stdout).trim(), "global");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
