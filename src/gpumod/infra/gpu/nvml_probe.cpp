#include "gpumod/infra/gpu/nvml_probe.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

namespace gpumod::infra::gpu {

namespace {

using util::ErrorCode;

// The few NVML types used, declared here from NVML's public ABI (nvml.h), so that gpumod needs
// no NVIDIA headers.
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
// nvmlDeviceGetComputeRunningProcesses (unversioned, "v1").
struct nvmlProcessInfo_v1_t {
  unsigned int pid;
  unsigned long long usedGpuMemory;
};
// _v2 and _v3 share this layout.
struct nvmlProcessInfo_v2_t {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};
static_assert(sizeof(nvmlProcessInfo_v1_t) == 16);
static_assert(sizeof(nvmlProcessInfo_v2_t) == 24);
static_assert(sizeof(nvmlMemory_t) == 24);

constexpr nvmlReturn_t k_nvml_success = 0;
constexpr nvmlReturn_t k_nvml_insufficient_size = 7;
constexpr unsigned long long k_nvml_value_not_available = ~0ULL;
constexpr unsigned k_name_buffer = 96;     // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned k_uuid_buffer = 96;     // NVML_DEVICE_UUID_V2_BUFFER_SIZE
constexpr unsigned k_driver_buffer = 80;   // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

std::int64_t to_mib(unsigned long long bytes) { return static_cast<std::int64_t>(bytes >> 20); }

// The loaded library and its functions. NVML is shut down and the library closed when the last
// holder (the probe, or a query thread still running) lets go.
struct NvmlLib {
  void* handle = nullptr;
  std::string file;
  bool initialized = false;

  nvmlReturn_t (*init_v2)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*system_get_driver_version)(char*, unsigned) = nullptr;
  nvmlReturn_t (*device_get_count_v2)(unsigned*) = nullptr;
  nvmlReturn_t (*device_get_handle_by_index_v2)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*device_get_name)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*device_get_uuid)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*device_get_memory_info)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  // _v3, else _v2 (same layout), else the unversioned one (v1 layout).
  nvmlReturn_t (*compute_processes_v2)(nvmlDevice_t, unsigned*, nvmlProcessInfo_v2_t*) = nullptr;
  nvmlReturn_t (*compute_processes_v1)(nvmlDevice_t, unsigned*, nvmlProcessInfo_v1_t*) = nullptr;

  NvmlLib() = default;
  NvmlLib(const NvmlLib&) = delete;
  NvmlLib& operator=(const NvmlLib&) = delete;
  ~NvmlLib() {
    if (initialized && shutdown) shutdown();
    if (handle) ::dlclose(handle);
  }

  std::string describe(nvmlReturn_t rc) const {
    const char* s = error_string ? error_string(rc) : nullptr;
    return (s && *s ? std::string(s) : "NVML error") + " (" + std::to_string(rc) + ")";
  }

  template <class Fn>
  bool bind(Fn& fn, const char* symbol) {
    void* p = ::dlsym(handle, symbol);
    fn = reinterpret_cast<Fn>(p);
    return p != nullptr;
  }
};

util::Result<std::shared_ptr<NvmlLib>> load_library(const std::vector<std::string>& names) {
  auto lib = std::make_shared<NvmlLib>();
  std::string errors;
  for (const auto& name : names) {
    ::dlerror();
    lib->handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib->handle) {
      lib->file = name;
      break;
    }
    // The first name's reason is the one that matters (the others are fallbacks).
    const char* e = ::dlerror();
    if (errors.empty()) errors = e ? std::string(e) : name + ": cannot be loaded";
  }
  if (!lib->handle) {
    return util::fail(ErrorCode::unavailable, "NVML not loadable (" + errors + ")");
  }
  struct Required {
    bool ok;
    const char* symbol;
  };
  const Required required[] = {
      {lib->bind(lib->init_v2, "nvmlInit_v2"), "nvmlInit_v2"},
      {lib->bind(lib->shutdown, "nvmlShutdown"), "nvmlShutdown"},
      {lib->bind(lib->error_string, "nvmlErrorString"), "nvmlErrorString"},
      {lib->bind(lib->device_get_count_v2, "nvmlDeviceGetCount_v2"), "nvmlDeviceGetCount_v2"},
      {lib->bind(lib->device_get_handle_by_index_v2, "nvmlDeviceGetHandleByIndex_v2"),
       "nvmlDeviceGetHandleByIndex_v2"},
      {lib->bind(lib->device_get_name, "nvmlDeviceGetName"), "nvmlDeviceGetName"},
      {lib->bind(lib->device_get_uuid, "nvmlDeviceGetUUID"), "nvmlDeviceGetUUID"},
      {lib->bind(lib->device_get_memory_info, "nvmlDeviceGetMemoryInfo"),
       "nvmlDeviceGetMemoryInfo"},
  };
  for (const auto& r : required) {
    if (!r.ok) {
      return util::fail(ErrorCode::unavailable,
                        "NVML not usable (" + lib->file + " has no " + r.symbol + ")");
    }
  }
  lib->bind(lib->system_get_driver_version, "nvmlSystemGetDriverVersion");
  if (!lib->bind(lib->compute_processes_v2, "nvmlDeviceGetComputeRunningProcesses_v3") &&
      !lib->bind(lib->compute_processes_v2, "nvmlDeviceGetComputeRunningProcesses_v2")) {
    lib->bind(lib->compute_processes_v1, "nvmlDeviceGetComputeRunningProcesses");
  }
  return lib;
}

// Runs `fn` on a worker thread and waits at most until `until`. The worker owns what it uses
// (shared_ptrs), so a hung driver call leaves the caller free and the thread to finish later.
template <class T, class Fn>
util::Result<T> run_with_deadline(Fn fn, std::chrono::steady_clock::time_point until,
                                  const std::string& what) {
  auto promise = std::make_shared<std::promise<util::Result<T>>>();
  auto future = promise->get_future();
  try {
    std::thread([promise, f = std::optional<Fn>(std::move(fn))]() mutable {
      auto result = (*f)();
      f.reset();  // let go of the library before the caller can see the result
      promise->set_value(std::move(result));
    }).detach();
  } catch (const std::system_error& e) {
    return util::fail(ErrorCode::internal, what + ": cannot start a thread: " + e.what());
  }
  if (future.wait_until(until) != std::future_status::ready) {
    return util::fail(ErrorCode::timeout, what + " did not return before the deadline");
  }
  return future.get();
}

util::Result<core::GpuSnapshot> query(const NvmlLib& lib) {
  core::GpuSnapshot snap;
  snap.source = core::GpuSource::nvml;
  if (lib.system_get_driver_version) {
    char version[k_driver_buffer] = {};
    if (lib.system_get_driver_version(version, sizeof version) == k_nvml_success) {
      snap.driver_version = std::string(version, ::strnlen(version, sizeof version));
    }
  }
  unsigned count = 0;
  if (auto rc = lib.device_get_count_v2(&count); rc != k_nvml_success) {
    return util::fail(ErrorCode::unavailable, "nvmlDeviceGetCount_v2: " + lib.describe(rc));
  }
  for (unsigned i = 0; i < count; ++i) {
    const std::string where = "NVML GPU " + std::to_string(i);
    nvmlDevice_t dev = nullptr;
    if (auto rc = lib.device_get_handle_by_index_v2(i, &dev); rc != k_nvml_success) {
      return util::fail(ErrorCode::unavailable,
                        where + ": nvmlDeviceGetHandleByIndex_v2: " + lib.describe(rc));
    }
    core::GpuDevice d;
    d.index = static_cast<int>(i);
    char name[k_name_buffer] = {};
    if (lib.device_get_name(dev, name, sizeof name) == k_nvml_success) {
      d.name = std::string(name, ::strnlen(name, sizeof name));
    }
    char uuid[k_uuid_buffer] = {};
    if (auto rc = lib.device_get_uuid(dev, uuid, sizeof uuid); rc != k_nvml_success) {
      return util::fail(ErrorCode::unavailable, where + ": nvmlDeviceGetUUID: " + lib.describe(rc));
    }
    d.uuid = std::string(uuid, ::strnlen(uuid, sizeof uuid));
    nvmlMemory_t mem{};
    if (auto rc = lib.device_get_memory_info(dev, &mem); rc != k_nvml_success) {
      return util::fail(ErrorCode::unavailable,
                        where + ": nvmlDeviceGetMemoryInfo: " + lib.describe(rc));
    }
    // NVML's used includes the driver's reserved memory; keep total = used + free in MiB.
    d.total_mib = to_mib(mem.total);
    d.free_mib = std::min(to_mib(mem.free), d.total_mib);
    d.used_mib = d.total_mib - d.free_mib;

    // Compute processes: ask for the count, then fetch; the list may grow in between.
    auto add = [&](unsigned pid, unsigned long long bytes) {
      core::GpuProcess p;
      p.pid = static_cast<int>(pid);
      p.used_mib = bytes == k_nvml_value_not_available ? 0 : to_mib(bytes);
      p.name = process_name_of(p.pid);
      d.processes.push_back(std::move(p));
    };
    auto fetch = [&](auto fn, auto tag) {
      using Info = decltype(tag);
      std::vector<Info> infos;
      unsigned n = 0;
      nvmlReturn_t rc = fn(dev, &n, nullptr);
      for (int attempt = 0; attempt < 4 && rc == k_nvml_insufficient_size; ++attempt) {
        infos.assign(n + 8, Info{});
        n = static_cast<unsigned>(infos.size());
        rc = fn(dev, &n, infos.data());
      }
      // NOT_SUPPORTED / NO_PERMISSION leave the list empty: memory totals still stand.
      if (rc != k_nvml_success) return;
      for (unsigned k = 0; k < n && k < infos.size(); ++k) add(infos[k].pid, infos[k].usedGpuMemory);
    };
    if (lib.compute_processes_v2) {
      fetch(lib.compute_processes_v2, nvmlProcessInfo_v2_t{});
    } else if (lib.compute_processes_v1) {
      fetch(lib.compute_processes_v1, nvmlProcessInfo_v1_t{});
    }
    snap.devices.push_back(std::move(d));
  }
  return snap;
}

class NvmlProbe final : public GpuProbe {
 public:
  explicit NvmlProbe(std::shared_ptr<NvmlLib> lib)
      : m_lib(std::move(lib)), m_gate(std::make_shared<Gate>()) {}

  util::Result<core::GpuSnapshot> snapshot(std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    {
      // One query at a time: a second caller waits for the first, within its own deadline.
      std::unique_lock lock(m_gate->mu);
      if (!m_gate->cv.wait_until(lock, until, [&] { return !m_gate->busy; })) {
        return util::fail(ErrorCode::timeout,
                          "NVML is still busy with an earlier query (" +
                              std::to_string(deadline.count()) + " ms deadline)");
      }
      m_gate->busy = true;
    }
    auto work = [lib = m_lib, gate = m_gate]() {
      auto r = query(*lib);
      {
        std::lock_guard lock(gate->mu);
        gate->busy = false;
      }
      gate->cv.notify_all();
      return r;
    };
    return run_with_deadline<core::GpuSnapshot>(
        std::move(work), until,
        "NVML query (" + std::to_string(deadline.count()) + " ms deadline)");
  }

  std::string_view name() const override { return "nvml"; }

 private:
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool busy = false;
  };
  std::shared_ptr<NvmlLib> m_lib;
  std::shared_ptr<Gate> m_gate;
};

}  // namespace

util::Result<std::unique_ptr<GpuProbe>> open_nvml_probe_from(
    const std::vector<std::string>& library_names, std::chrono::milliseconds deadline) {
  auto lib = load_library(library_names);
  if (!lib) return std::unexpected(lib.error());
  const auto until = std::chrono::steady_clock::now() + deadline;
  auto init = [lib = *lib]() -> util::Status {
    if (auto rc = lib->init_v2(); rc != k_nvml_success) {
      return util::fail(ErrorCode::unavailable, "NVML not usable (nvmlInit_v2: " +
                                                    lib->describe(rc) + ")");
    }
    lib->initialized = true;
    unsigned count = 0;
    if (auto rc = lib->device_get_count_v2(&count); rc != k_nvml_success) {
      return util::fail(ErrorCode::unavailable,
                        "NVML not usable (nvmlDeviceGetCount_v2: " + lib->describe(rc) + ")");
    }
    if (count == 0) return util::fail(ErrorCode::unavailable, "NVML sees no GPU");
    return {};
  };
  auto st = run_with_deadline<std::monostate>(
      [init = std::move(init)]() -> util::Result<std::monostate> {
        auto s = init();
        if (!s) return std::unexpected(s.error());
        return std::monostate{};
      },
      until, "nvmlInit_v2 (" + std::to_string(deadline.count()) + " ms deadline)");
  if (!st) return std::unexpected(st.error());
  return std::unique_ptr<GpuProbe>(std::make_unique<NvmlProbe>(std::move(*lib)));
}

util::Result<std::unique_ptr<GpuProbe>> open_nvml_probe(std::chrono::milliseconds deadline) {
  return open_nvml_probe_from({"libnvidia-ml.so.1", "libnvidia-ml.so"}, deadline);
}

}  // namespace gpumod::infra::gpu
