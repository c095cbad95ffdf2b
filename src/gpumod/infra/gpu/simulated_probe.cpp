#include "gpumod/infra/gpu/simulated_probe.hpp"

#include <algorithm>

#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::gpu {

namespace {

class SimulatedProbe final : public GpuProbe {
 public:
  SimulatedProbe(core::SimulatedGpu gpu, std::filesystem::path ledger_dir)
      : m_gpu(std::move(gpu)), m_ledger_dir(std::move(ledger_dir)) {}

  util::Result<core::GpuSnapshot> snapshot(std::chrono::milliseconds /*deadline*/) override {
    core::GpuSnapshot snap;
    snap.source = core::GpuSource::simulated;
    snap.driver_version = "simulated";
    core::GpuDevice d;
    d.index = 0;
    d.uuid = std::string(k_simulated_uuid);
    d.name = m_gpu.name;
    d.total_mib = m_gpu.total_mib;
    d.processes = read_ledger(m_ledger_dir);
    std::ranges::sort(d.processes, {}, &core::GpuProcess::pid);
    for (const auto& p : d.processes) d.used_mib += std::max<std::int64_t>(0, p.used_mib);
    // Over-subscription stays visible: used may exceed total, free never goes below zero.
    d.free_mib = std::max<std::int64_t>(0, d.total_mib - d.used_mib);
    snap.devices.push_back(std::move(d));
    return snap;
  }

  std::string_view name() const override { return "simulated"; }

 private:
  core::SimulatedGpu m_gpu;
  std::filesystem::path m_ledger_dir;
};

}  // namespace

std::unique_ptr<GpuProbe> make_simulated_probe(core::SimulatedGpu gpu,
                                               std::filesystem::path ledger_dir) {
  return std::make_unique<SimulatedProbe>(std::move(gpu), std::move(ledger_dir));
}

util::Result<core::SimulatedGpu> parse_simulate_gpu_arg(std::string_view text) {
  using util::ErrorCode;
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return util::fail(ErrorCode::invalid_argument,
                      "--simulate-gpu '" + std::string(text) +
                          "': expected NAME:MiB, e.g. 'RTX 4090:24564'");
  }
  const auto name = util::trim(text.substr(0, colon));
  if (name.empty()) {
    return util::fail(ErrorCode::invalid_argument,
                      "--simulate-gpu '" + std::string(text) + "': the GPU name is empty");
  }
  if (name.size() > k_max_simulated_name) {
    return util::fail(ErrorCode::invalid_argument,
                      "--simulate-gpu: the GPU name is longer than " +
                          std::to_string(k_max_simulated_name) + " characters");
  }
  if (!std::ranges::all_of(name, [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return util::fail(ErrorCode::invalid_argument,
                      "--simulate-gpu: the GPU name may hold only printable ASCII characters");
  }
  auto mib = util::parse_int(text.substr(colon + 1), 1, k_max_simulated_mib,
                             "--simulate-gpu memory (MiB)");
  if (!mib) return std::unexpected(mib.error());
  core::SimulatedGpu gpu;
  gpu.name = std::string(name);
  gpu.total_mib = *mib;
  gpu.only_without_gpu = false;
  return gpu;
}

}  // namespace gpumod::infra::gpu
