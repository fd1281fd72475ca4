// A standalone check of native/src/dist.cpp at world size 1, for machines
// without Deno (the GPU machines: libtorch 2.x with NCCL). Built and run by
// scripts/dist_check.sh; not part of liblade.
//
//   dist_check gloo|nccl PORT [DEVICE_INDEX]
//
// Prints one line per step and "dist_check: ok" at the end; exits 1 on the
// first failure with lade_last_error()'s message.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../src/common.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "dist_check: %s: %s\n", what.c_str(), lade_last_error());
  std::exit(1);
}

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "dist_check: %s: wrong values\n", what.c_str());
    std::exit(1);
  }
  std::printf("dist_check: %s ok\n", what.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: dist_check gloo|nccl PORT [DEVICE_INDEX]\n");
    return 2;
  }
  const std::string backend_name = argv[1];
  const int32_t backend = backend_name == "nccl" ? LADE_DIST_NCCL : LADE_DIST_GLOO;
  const int32_t port = std::atoi(argv[2]);
  const int32_t index = argc > 3 ? std::atoi(argv[3]) : 0;
  const auto device = backend == LADE_DIST_NCCL ? torch::Device(torch::kCUDA, index)
                                                : torch::Device(torch::kCPU);
  std::printf("dist_check: libtorch %s, backends mask %d\n", TORCH_VERSION,
              lade_dist_backends());

  lade_process_group* pg = lade_dist_new(backend, 0, 1, "127.0.0.1", port, 30000, index);
  if (!pg) fail("lade_dist_new");
  std::printf("dist_check: %s process group of 1 ok\n", backend_name.c_str());

  // Bucketed all-reduce (a world of one: the values stay).
  auto flat = torch::arange(1000, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  auto before = flat.clone();
  lade_tensor* h = lade::wrap(flat);
  if (lade_dist_all_reduce(pg, h, LADE_DIST_SUM, 256) != 0) fail("all-reduce sum");
  if (lade_dist_all_reduce(pg, h, LADE_DIST_AVG, 0) != 0) fail("all-reduce avg");
  expect(torch::equal(flat.cpu(), before.cpu()), "all-reduce (sum, avg; 16 buckets)");

  // All-gather with autograd: d/dx sum(gather(x)^2) = 2x.
  auto x = torch::randn({3, 4}, torch::TensorOptions().device(device)).requires_grad_(true);
  lade_tensor* hx = lade::wrap(x);
  lade_tensor* hg = lade_dist_all_gather(pg, hx, nullptr);
  if (!hg) fail("all-gather");
  hg->value.pow(2).sum().backward();
  expect(torch::allclose(x.grad().cpu(), 2 * x.detach().cpu()) &&
             torch::equal(hg->value.detach().cpu(), x.detach().cpu()),
         "all-gather with autograd");
  int64_t sizes[1] = {3};
  lade_tensor* hg2 = lade_dist_all_gather(pg, hx, sizes);
  if (!hg2) fail("all-gather with sizes");
  expect(hg2->value.size(0) == 3, "all-gather with sizes");

  // Broadcast (a transposed view travels through a copy) and barrier.
  auto base = torch::arange(6, torch::TensorOptions().dtype(torch::kFloat32).device(device))
                  .reshape({2, 3});
  lade_tensor* hb[2] = {lade::wrap(base.t()), lade::wrap(flat)};
  if (lade_dist_broadcast(pg, hb, 2, 0) != 0) fail("broadcast");
  expect(torch::equal(base.cpu(), torch::arange(6).reshape({2, 3}).to(torch::kFloat32)),
         "broadcast");
  if (lade_dist_barrier(pg) != 0) fail("barrier");
  std::printf("dist_check: barrier ok\n");

  for (lade_tensor* t : {h, hx, hg, hg2, hb[0], hb[1]}) delete t;
  lade_dist_free(pg);
  std::printf("dist_check: ok\n");
  return 0;
}
