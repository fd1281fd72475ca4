/**
 * The network a run trained, rebuilt from its manifest: the one place that
 * knows which manifest fields shape a model (training's `--init RUN`,
 * stage 2, prediction, evaluation and weights export all build it here).
 *
 * @module
 */

import { type Architecture, Model } from "../models/model.ts";
import type { Device } from "../torch/device.ts";
import type { Manifest } from "./checkpoint.ts";

/**
 * A new model shaped as the run of `manifest` built it (architecture, class
 * count, input channels, head and its scale), on `device` (default cpu). Its
 * weights are freshly initialised: load the run's with loadCheckpoint. An
 * architecture this build lacks is an InputError naming `arch`.
 */
export function modelFromManifest(
  manifest: Pick<Manifest, "arch" | "classes" | "inChannels" | "config">,
  device?: Device,
): Model {
  return Model.create({
    // Model.create checks the name: a manifest is validated data, not trusted code.
    arch: manifest.arch as Architecture,
    classes: manifest.classes,
    inChannels: manifest.inChannels,
    head: manifest.config.model.head,
    scale: manifest.config.model.scale,
    device,
  });
}
