// SGD with momentum, optional Nesterov momentum and weight decay over a
// model's parameters (torch::optim::SGD). The learning rate is set from
// TypeScript before each step, so schedules live in lib/train/schedule.ts.
#include "model_common.h"

namespace lade {
namespace {

struct Sgd {
  std::unique_ptr<torch::optim::SGD> opt;
  torch::Device device;
};

Sgd& S(void* h) {
  if (!h) throw std::invalid_argument("null optimiser handle");
  return *static_cast<Sgd*>(h);
}

}  // namespace
}  // namespace lade

using namespace lade;

/// A new SGD optimiser over all parameters of `model` (create it after the
/// model has been moved to its device).
LADE_EXTERN void* lade_sgd_new(void* model, double lr, double momentum, double weight_decay,
                               int32_t nesterov) {
  return guard_value<void*>(nullptr, [&]() -> void* {
    auto& m = M(model);
    if (!(lr >= 0)) throw std::invalid_argument("learning rate must be >= 0");
    if (nesterov && momentum <= 0) throw std::invalid_argument("Nesterov momentum needs momentum > 0");
    auto options =
        torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(weight_decay).nesterov(nesterov != 0);
    return new Sgd{std::make_unique<torch::optim::SGD>(m.net->parameters(), options), m.device};
  });
}

/// Frees an optimiser handle.
LADE_EXTERN void lade_sgd_free(void* o) { delete static_cast<Sgd*>(o); }

/// Sets the learning rate of every parameter group.
LADE_EXTERN int32_t lade_sgd_set_lr(void* o, double lr) {
  return guard_status([&] {
    for (auto& group : S(o).opt->param_groups()) {
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    }
  });
}

/// Clears the gradients of the optimised parameters.
LADE_EXTERN int32_t lade_sgd_zero_grad(void* o) {
  return guard_status([&] { S(o).opt->zero_grad(); });
}

/// One update with the accumulated gradients.
LADE_EXTERN int32_t lade_sgd_step(void* o) {
  return guard_status([&] { S(o).opt->step(); });
}

/// Writes the optimiser state (momentum buffers, options) to `path`.
LADE_EXTERN int32_t lade_sgd_save(void* o, const char* path) {
  return guard_status([&] {
    if (!path || !*path) throw std::invalid_argument("empty path");
    torch::serialize::OutputArchive archive;
    S(o).opt->save(archive);
    archive.save_to(path);
  });
}

/// Restores a state written by lade_sgd_save (an optimiser over the same model).
LADE_EXTERN int32_t lade_sgd_load(void* o, const char* path) {
  return guard_status([&] {
    if (!path || !*path) throw std::invalid_argument("empty path");
    auto& s = S(o);
    torch::serialize::InputArchive archive;
    archive.load_from(path, s.device);
    s.opt->load(archive);
  });
}
