// SGD with momentum, optional Nesterov momentum and weight decay over a
// model's parameters (torch::optim::SGD). The learning rate is set from
// TypeScript before each step, so schedules live in lib/train/schedule.ts.
#include "model_common.h"

/// What an optimiser handle (lade.h's opaque lade_sgd) points at.
struct lade_sgd {
  std::unique_ptr<torch::optim::SGD> opt;
  torch::Device device;
};

namespace {

lade_sgd& S(lade_sgd* h) {
  if (!h) throw std::invalid_argument("null optimiser handle");
  return *h;
}

}  // namespace

using namespace lade;

LADE_EXTERN lade_sgd* lade_sgd_new(lade_model* model, double lr, double momentum,
                                   double weight_decay, int32_t nesterov) {
  return guard_value<lade_sgd*>(nullptr, [&] {
    auto& m = M(model);
    if (!(lr >= 0)) throw std::invalid_argument("learning rate must be >= 0");
    if (nesterov && momentum <= 0)
      throw std::invalid_argument("Nesterov momentum needs momentum > 0");
    auto options = torch::optim::SGDOptions(lr)
                       .momentum(momentum)
                       .weight_decay(weight_decay)
                       .nesterov(nesterov != 0);
    return new lade_sgd{std::make_unique<torch::optim::SGD>(m.net->parameters(), options),
                        m.device};
  });
}

LADE_EXTERN void lade_sgd_free(lade_sgd* o) { delete o; }

LADE_EXTERN int32_t lade_sgd_set_lr(lade_sgd* o, double lr) {
  return guard_status([&] {
    for (auto& group : S(o).opt->param_groups()) {
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    }
  });
}

LADE_EXTERN int32_t lade_sgd_zero_grad(lade_sgd* o) {
  return guard_status([&] { S(o).opt->zero_grad(); });
}

LADE_EXTERN int32_t lade_sgd_step(lade_sgd* o) {
  return guard_status([&] { S(o).opt->step(); });
}

LADE_EXTERN int32_t lade_sgd_save(lade_sgd* o, const char* path) {
  return guard_status([&] {
    if (!path || !*path) throw std::invalid_argument("empty path");
    torch::serialize::OutputArchive archive;
    S(o).opt->save(archive);
    archive.save_to(path);
  });
}

LADE_EXTERN int32_t lade_sgd_load(lade_sgd* o, const char* path) {
  return guard_status([&] {
    if (!path || !*path) throw std::invalid_argument("empty path");
    auto& s = S(o);
    torch::serialize::InputArchive archive;
    archive.load_from(path, s.device);
    s.opt->load(archive);
  });
}
