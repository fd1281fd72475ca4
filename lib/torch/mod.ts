/**
 * lib/torch: libtorch tensors from TypeScript.
 *
 * @module
 */

export { affineGridSample, cat, type Operand, stack, Tensor, where } from "./tensor.ts";
export {
  arange,
  fromBytes,
  full,
  Generator,
  noGrad,
  ones,
  rand,
  randint,
  randn,
  type RandomOptions,
  randperm,
  tensor,
  type TensorOptions,
  zeros,
} from "./create.ts";
export { type DType, type TypedArray } from "./dtype.ts";
export {
  checkDevice,
  cudaAvailable,
  cudaDeviceCount,
  type Device,
  type DeviceCode,
  getNumThreads,
  manualSeed,
  parseDevice,
  setNumThreads,
  synchronize,
} from "./device.ts";
export { DisposedError, NativeLibraryError, TorchError } from "./errors.ts";
export { nativeLibraryPath } from "./ffi.ts";
export {
  type LibraryOrigin,
  type NativeLibraryChoice,
  nativeLibraryChoice,
  onNativeNotice,
} from "./library_path.ts";
export { type TorchBuild, type TorchSource } from "./libtorch.ts";
export { NativeHandle } from "./handle.ts";
export { type Disposable, keep, liveTensors, scope } from "./memory.ts";
export { nativeArchitectures, torchVersion } from "./native_info.ts";
export {
  type BuildInfo,
  buildInfo,
  type CudaDeviceInfo,
  cudaDeviceInfo,
  CudaGraph,
  type CudaMemory,
  cudaMemory,
  setCudnnBenchmark,
  useSideStream,
} from "./cuda.ts";
