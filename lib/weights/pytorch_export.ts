/**
 * `weights export --format pytorch`: a model's state dict as a `torch.save`
 * file (lib/weights/torch_save.ts) and the PyTorch module file that builds
 * the network and loads it (lib/weights/pytorch_module.ts), side by side.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import type { Model } from "../models/model.ts";
import { modelStateDict, type WeightsMetadata } from "./model_weights.ts";
import { pytorchModuleSource } from "./pytorch_module.ts";
import { encodeTorchStateDict } from "./torch_save.ts";

/** The two files of a PyTorch export. */
export interface PytorchExportFiles {
  /** The state dict (`.pt`, torch.save's zip format). */
  weights: string;
  /** The module file (`.py`, imports torch only). */
  module: string;
}

/**
 * Where an export to `out` goes: `F.pt` (or `.pth`) is the state dict and
 * the module file is beside it, named by the same stem made a Python
 * identifier (`my-net.pt` -> `my_net.py`); anything else is a folder that
 * gets `model.pt` and `model.py`.
 */
export function pytorchExportFiles(out: string): PytorchExportFiles {
  if (/\.(pt|pth)$/i.test(out)) {
    const stem = basename(out).replace(/\.(pt|pth)$/i, "");
    let name = stem.replace(/[^A-Za-z0-9_]/g, "_");
    if (name === "" || /^[0-9]/.test(name)) name = `model_${name}`;
    return { weights: out, module: join(dirname(out), `${name}.py`) };
  }
  return { weights: join(out, "model.pt"), module: join(out, "model.py") };
}

/**
 * Writes `model`'s state dict and its module file to `out` (see
 * pytorchExportFiles; a missing folder is made), both atomically. The state
 * dict carries the names `weights export` gives (torchvision's for the
 * torchvision networks, lade's otherwise).
 */
export async function exportPytorch(
  model: Model,
  out: string,
  metadata: WeightsMetadata,
): Promise<PytorchExportFiles> {
  const files = pytorchExportFiles(out);
  try {
    await Deno.mkdir(dirname(files.weights), { recursive: true });
  } catch (e) {
    throw new InputError("out", `cannot make ${dirname(files.weights)}: ${(e as Error).message}`);
  }
  const archive = basename(files.weights).replace(/\.(pt|pth)$/i, "").replace(/[^\w.-]/g, "_") ||
    "archive";
  await writeFileAtomic(files.weights, encodeTorchStateDict(modelStateDict(model), archive));
  const head = metadata.head === "cosine" ? "cosine" : "linear";
  await writeFileAtomic(
    files.module,
    pytorchModuleSource({
      arch: metadata.arch,
      classes: metadata.classes,
      inChannels: metadata.inChannels,
      head,
      scale: metadata.scale ?? 16,
      weightsFile: basename(files.weights),
      moduleName: basename(files.module, ".py"),
      classNames: metadata.classNames,
      trainCounts: metadata.trainCounts,
      method: metadata.method,
      imageSize: metadata.imageSize,
      mean: metadata.mean,
      std: metadata.std,
    }),
  );
  return files;
}
