#include "gpumod/infra/gpu/select.hpp"

#include <chrono>

#include "gpumod/infra/gpu/nvidia_smi.hpp"
#include "gpumod/infra/gpu/nvml_probe.hpp"
#include "gpumod/infra/gpu/simulated_probe.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::infra::gpu {

namespace {

constexpr std::chrono::milliseconds k_check_deadline{5000};

std::string describe(const core::SimulatedGpu& gpu) {
  return "'" + gpu.name + "' (" + std::to_string(gpu.total_mib) + " MiB)";
}

}  // namespace

util::Result<ProbeSelection> select_probe(const core::Settings& settings,
                                          const std::optional<core::SimulatedGpu>& cli_override,
                                          const std::filesystem::path& ledger_dir) {
  if (cli_override) {
    return ProbeSelection{make_simulated_probe(*cli_override, ledger_dir),
                          "simulating GPU " + describe(*cli_override) +
                              " as --simulate-gpu asks"};
  }
  const auto& sim = settings.simulate_gpu;
  if (sim && !sim->only_without_gpu) {
    return ProbeSelection{make_simulated_probe(*sim, ledger_dir),
                          "simulating GPU " + describe(*sim) +
                              " as gpumod.yaml asks (gpu.simulate, only_without_gpu: false)"};
  }

  auto nvml = open_nvml_probe();
  if (nvml) return ProbeSelection{std::move(*nvml), ""};
  const std::string nvml_reason = nvml.error().message;

  std::string smi_reason;
  if (const auto smi = util::find_program("nvidia-smi"); !smi.empty()) {
    auto probe = make_nvidia_smi_probe(smi);
    if (auto check = probe->snapshot(k_check_deadline); check) {
      return ProbeSelection{std::move(probe), nvml_reason + "; using " + smi};
    } else {
      smi_reason = "nvidia-smi failed (" + check.error().message + ")";
    }
  } else {
    smi_reason = "nvidia-smi not found";
  }

  if (sim) {
    return ProbeSelection{make_simulated_probe(*sim, ledger_dir),
                          "no NVIDIA GPU found (" + nvml_reason + "; " + smi_reason +
                              "); using the simulated GPU " + describe(*sim) +
                              " from gpumod.yaml"};
  }
  return util::fail(util::ErrorCode::unavailable,
                    "no GPU: " + nvml_reason + ", " + smi_reason +
                        "; set gpu.simulate in gpumod.yaml or pass --simulate-gpu NAME:MiB");
}

}  // namespace gpumod::infra::gpu
