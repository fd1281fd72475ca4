/**
 * Image folders in torchvision's ImageFolder layout: one subfolder per class
 * inside `train/` and `test/` (or `val/`) under the root. Classes are the
 * training split's subfolders sorted by name (code points, as Python sorts
 * them), so class c is torchvision's class c; each class's images are found
 * as torchvision finds them (every folder below the class folder, symbolic
 * links followed, folders and file names in sorted order) and kept by
 * extension (torchvision's IMG_EXTENSIONS, case-insensitive).
 *
 * What comes out is the same shape an image list gives (paths, labels and a
 * "line" per image, its 1-based position in the split), so the image-list
 * machinery (header probes, FileImageSet, `data verify`) takes it as it is.
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../errors.ts";
import { folderEntries } from "./files.ts";
import type { ImageFileGroup, ImageListFiles } from "./image_list.ts";

/** torchvision's IMG_EXTENSIONS: the files ImageFolder takes as images. */
export const TORCHVISION_IMAGE_EXTENSIONS: readonly string[] = [
  ".jpg",
  ".jpeg",
  ".png",
  ".ppm",
  ".bmp",
  ".pgm",
  ".tif",
  ".tiff",
  ".webp",
];

/** The extensions of those that lade decodes (JPEG and PNG). */
export const DECODED_IMAGE_EXTENSIONS: readonly string[] = [".jpg", ".jpeg", ".png"];

/** The training folder's name inside an image folder's root. */
export const TRAIN_FOLDER = "train";
/** The test folders' names, the first that exists taken. */
export const TEST_FOLDERS: readonly string[] = ["test", "val"];

/** How `root/train/<class>/<image>` is laid out, for messages. */
const LAYOUT = "image-folder expects ROOT/train/<class>/<image> and ROOT/test/<class>/<image> " +
  "(or ROOT/val/...), JPEG or PNG images, as torchvision's ImageFolder";

/** Orders strings by code point, as Python's sorted() does (JavaScript's < compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a], y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Whether `path` is a folder (a symbolic link to one counts, as Python's is_dir()). */
async function isFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The class names of a split folder: its subfolders, sorted as torchvision's
 * find_classes sorts them.
 */
export async function findClasses(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const e of await folderEntries(dir)) {
    if (e.isDirectory || (e.isSymlink && await isFolder(join(dir, e.name)))) names.push(e.name);
  }
  return names.sort(compareCodePoints);
}

/**
 * Every file below `dir` in os.walk(followlinks=True) order after
 * torchvision's sort: folders by path, then each folder's files by name. A
 * folder reached twice through links is walked once.
 */
async function walkFiles(dir: string): Promise<string[]> {
  const folders: { path: string; files: string[] }[] = [];
  const seen = new Set<string>();
  const visit = async (path: string): Promise<void> => {
    const real = await Deno.realPath(path).catch(() => path);
    if (seen.has(real)) return;
    seen.add(real);
    const files: string[] = [];
    const subfolders: string[] = [];
    for (const e of await folderEntries(path)) {
      const full = join(path, e.name);
      if (e.isDirectory || (e.isSymlink && await isFolder(full))) subfolders.push(full);
      else files.push(e.name);
    }
    folders.push({ path, files: files.sort(compareCodePoints) });
    for (const sub of subfolders) await visit(sub);
  };
  await visit(dir);
  folders.sort((a, b) => compareCodePoints(a.path, b.path));
  return folders.flatMap((f) => f.files.map((name) => join(f.path, name)));
}

/** The extension of a file name, lower case, with its dot ("" without one). */
function extension(name: string): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  return dot > slash ? name.slice(dot).toLowerCase() : "";
}

/** One split folder read: its images and their class indices. */
export interface FolderSplit {
  /** The split folder (`ROOT/train`). */
  dir: string;
  /** Image paths in torchvision's order. */
  paths: string[];
  /** The class index of each image. */
  labels: Int32Array;
  /** Images torchvision would take but lade cannot decode (BMP, TIFF, WebP...). */
  undecodable: string[];
}

/**
 * Reads the images of one split folder: class folder `classNames[c]` holds
 * class c's. A class folder of the split that is not in `classNames` is an
 * InputError (its images would have no label).
 */
export async function readFolderSplit(
  dir: string,
  classNames: readonly string[],
): Promise<FolderSplit> {
  const index = new Map(classNames.map((name, c) => [name, c]));
  for (const name of await findClasses(dir)) {
    if (!index.has(name)) {
      throw new InputError(
        `${join(dir, name)}: class '${name}' has no folder in the training split ` +
          `(${classNames.length} classes there); every class needs training images`,
      );
    }
  }
  const paths: string[] = [];
  const labels: number[] = [];
  const undecodable: string[] = [];
  for (let c = 0; c < classNames.length; c++) {
    const classDir = join(dir, classNames[c]);
    if (!(await isFolder(classDir))) continue;
    for (const path of await walkFiles(classDir)) {
      const ext = extension(path);
      if (DECODED_IMAGE_EXTENSIONS.includes(ext)) {
        paths.push(path);
        labels.push(c);
      } else if (TORCHVISION_IMAGE_EXTENSIONS.includes(ext)) {
        undecodable.push(path);
      }
    }
  }
  return { dir, paths, labels: Int32Array.from(labels), undecodable };
}

/** What imageFolderFiles needs of the load options. */
export interface ImageFolderOptions {
  /** The folder holding `train/` and `test/` (or `val/`). */
  root?: string;
  /** Leave out images of other formats (with a warning) instead of failing. */
  skipBadImages?: boolean;
  /** Receives that warning. */
  onWarning?: (message: string) => void;
}

/** A split as an image list: each image's "line" is its 1-based position in the split. */
function asGroup(split: FolderSplit): ImageFileGroup {
  return {
    listPath: split.dir,
    list: {
      paths: split.paths,
      labels: split.labels,
      lines: split.paths.map((_, i) => i + 1),
    },
    files: split.paths,
    folder: true,
  };
}

/**
 * Finds and reads an image folder (see the module notes): the class names,
 * and the training and test images with their labels. Every class needs
 * training images. Images in formats torchvision reads but lade does not
 * decode are an InputError naming the first, or with `skipBadImages` a
 * warning; other files (notes, `.DS_Store`) are passed over, as torchvision
 * does.
 */
export async function imageFolderFiles(
  opts: ImageFolderOptions,
): Promise<ImageListFiles & { classNames: string[] }> {
  if (opts.root === undefined) {
    throw new InputError("root", `${LAYOUT}; pass \`root\` with that folder`);
  }
  const root = opts.root;
  if (!(await isFolder(root))) {
    throw new InputError("root", `${root} is not a folder (${LAYOUT})`);
  }
  const trainDir = join(root, TRAIN_FOLDER);
  if (!(await isFolder(trainDir))) {
    throw new InputError(`missing folder ${trainDir} (${LAYOUT})`);
  }
  let testDir: string | undefined;
  for (const name of TEST_FOLDERS) {
    if (await isFolder(join(root, name))) {
      testDir = join(root, name);
      break;
    }
  }
  if (testDir === undefined) {
    throw new InputError(`missing folder ${join(root, TEST_FOLDERS[0])} (${LAYOUT})`);
  }
  const classNames = await findClasses(trainDir);
  if (classNames.length < 2) {
    throw new InputError(
      `${trainDir}: ${classNames.length} class folder(s)${
        classNames.length ? ` (${classNames[0]})` : ""
      }; a classifier needs at least 2 (${LAYOUT})`,
    );
  }
  const train = await readFolderSplit(trainDir, classNames);
  const test = await readFolderSplit(testDir, classNames);
  const undecodable = [...train.undecodable, ...test.undecodable];
  if (undecodable.length > 0) {
    const what = `${undecodable.length} image(s) in formats lade does not decode (it reads ` +
      `JPEG and PNG), e.g. ${undecodable[0]}`;
    if (!opts.skipBadImages) {
      throw new InputError(`${what}; convert them, or pass \`skipBadImages\` to leave them out`);
    }
    opts.onWarning?.(`leaving out ${what}`);
  }
  const counts = new Array<number>(classNames.length).fill(0);
  for (const y of train.labels) counts[y]++;
  const empty = counts.findIndex((n) => n === 0);
  if (empty >= 0) {
    throw new InputError(
      `${join(trainDir, classNames[empty])}: class '${classNames[empty]}' has no JPEG or PNG ` +
        "images; every class needs training images",
    );
  }
  if (test.paths.length === 0) {
    throw new InputError(`${testDir}: no JPEG or PNG images in its class folders (${LAYOUT})`);
  }
  return { train: asGroup(train), test: asGroup(test), classes: classNames.length, classNames };
}
