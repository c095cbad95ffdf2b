// The sd-bus backend: org.freedesktop.systemd1 on the user bus, one connection, every call with
// an explicit timeout. Built only with libsystemd's header (GPUMOD_HAVE_SDBUS); otherwise
// open_sdbus_manager reports unavailable and the systemctl backend is used.
// libsystemd.so.0 is opened (dlopen) the first time a manager is opened, not linked: a link would
// load it and the six libraries it needs into every gpumod process (about 0.6 ms of each CLI
// command's start), and gpumod could not start at all where it is absent (a slim container).
#include "gpumod/infra/systemd/detail.hpp"

#include <fmt/format.h>

#ifdef GPUMOD_HAVE_SDBUS
#include <systemd/sd-bus.h>

#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <utility>

#include "gpumod/infra/systemd/unit.hpp"
#endif

namespace gpumod::infra::systemd::detail {

#ifndef GPUMOD_HAVE_SDBUS

util::Result<std::unique_ptr<SystemdManager>> open_sdbus_manager(
    const std::map<std::string, std::string>&, std::string, std::chrono::milliseconds) {
  return util::fail(util::ErrorCode::unavailable, "gpumod was built without sd-bus (libsystemd)");
}

#else

namespace {

using util::ErrorCode;

// The functions used, resolved from libsystemd.so.0 once.
struct SdBusLib {
  decltype(&::sd_bus_flush_close_unref) bus_flush_close_unref = nullptr;
  decltype(&::sd_bus_message_unref) bus_message_unref = nullptr;
  decltype(&::sd_bus_error_free) bus_error_free = nullptr;
  decltype(&::sd_bus_message_append) bus_message_append = nullptr;
  decltype(&::sd_bus_message_read) bus_message_read = nullptr;
  decltype(&::sd_bus_message_read_basic) bus_message_read_basic = nullptr;
  decltype(&::sd_bus_message_new_method_call) bus_message_new_method_call = nullptr;
  decltype(&::sd_bus_message_set_auto_start) bus_message_set_auto_start = nullptr;
  decltype(&::sd_bus_call) bus_call = nullptr;
  decltype(&::sd_bus_message_enter_container) bus_message_enter_container = nullptr;
  decltype(&::sd_bus_new) bus_new = nullptr;
  decltype(&::sd_bus_set_address) bus_set_address = nullptr;
  decltype(&::sd_bus_set_bus_client) bus_set_bus_client = nullptr;
  decltype(&::sd_bus_set_method_call_timeout) bus_set_method_call_timeout = nullptr;
  decltype(&::sd_bus_start) bus_start = nullptr;
};

const SdBusLib* g_sd = nullptr;  // set once by load_sdbus(); managers exist only after it succeeded

util::Status load_sdbus() {
  static std::once_flag once;
  static SdBusLib lib;
  static std::string failure;
  std::call_once(once, [] {
    void* handle = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* e = ::dlerror();
      failure = std::string("cannot load libsystemd.so.0: ") + (e ? e : "unknown error");
      return;
    }
    const auto resolve = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
      if (fn == nullptr && failure.empty()) failure = std::string("libsystemd.so.0 lacks ") + name;
    };
    resolve(lib.bus_flush_close_unref, "sd_bus_flush_close_unref");
    resolve(lib.bus_message_unref, "sd_bus_message_unref");
    resolve(lib.bus_error_free, "sd_bus_error_free");
    resolve(lib.bus_message_append, "sd_bus_message_append");
    resolve(lib.bus_message_read, "sd_bus_message_read");
    resolve(lib.bus_message_read_basic, "sd_bus_message_read_basic");
    resolve(lib.bus_message_new_method_call, "sd_bus_message_new_method_call");
    resolve(lib.bus_message_set_auto_start, "sd_bus_message_set_auto_start");
    resolve(lib.bus_call, "sd_bus_call");
    resolve(lib.bus_message_enter_container, "sd_bus_message_enter_container");
    resolve(lib.bus_new, "sd_bus_new");
    resolve(lib.bus_set_address, "sd_bus_set_address");
    resolve(lib.bus_set_bus_client, "sd_bus_set_bus_client");
    resolve(lib.bus_set_method_call_timeout, "sd_bus_set_method_call_timeout");
    resolve(lib.bus_start, "sd_bus_start");
    if (failure.empty()) g_sd = &lib;
  });
  if (g_sd == nullptr) return util::fail(ErrorCode::unavailable, failure);
  return {};
}

constexpr const char* k_dest = "org.freedesktop.systemd1";
constexpr const char* k_manager_path = "/org/freedesktop/systemd1";
constexpr const char* k_manager_iface = "org.freedesktop.systemd1.Manager";

struct BusDeleter {
  void operator()(sd_bus* bus) const { g_sd->bus_flush_close_unref(bus); }
};
struct MessageDeleter {
  void operator()(sd_bus_message* m) const { g_sd->bus_message_unref(m); }
};
using BusPtr = std::unique_ptr<sd_bus, BusDeleter>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageDeleter>;

struct ErrorGuard {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  ~ErrorGuard() { g_sd->bus_error_free(&error); }
};

std::uint64_t to_usec(std::chrono::milliseconds ms) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(ms.count(), 1)) * 1000u;
}

util::Error bus_error(std::string_view what, int r, const sd_bus_error& e) {
  if (r == -ETIMEDOUT) {
    return util::Error{ErrorCode::timeout, fmt::format("{}: no answer from systemd in time", what)};
  }
  const std::string name = e.name != nullptr ? e.name : "";
  const std::string msg = e.message != nullptr ? e.message : std::strerror(-r);
  ErrorCode code = ErrorCode::failed;
  if (name == "org.freedesktop.systemd1.NoSuchUnit" || name == "org.freedesktop.systemd1.LoadFailed") {
    code = ErrorCode::not_found;
  } else if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
             name == "org.freedesktop.DBus.Error.NoReply" || r == -ECONNREFUSED ||
             r == -ENOENT || r == -ECONNRESET || r == -ENOTCONN) {
    code = ErrorCode::unavailable;
  }
  return util::Error{code, fmt::format("{}: {}", what, msg)};
}

class SdBusSystemdManager final : public SystemdManager {
 public:
  SdBusSystemdManager(BusPtr bus, std::string journalctl, std::map<std::string, std::string> env_fix)
      : m_bus(std::move(bus)), m_journalctl(std::move(journalctl)), m_env_fix(std::move(env_fix)) {}

  util::Status daemon_reload(std::chrono::milliseconds deadline) override {
    std::lock_guard lock(m_mutex);
    auto r = call(k_manager_path, k_manager_iface, "Reload", deadline, "daemon-reload",
                  [](sd_bus_message*) { return 0; });
    if (!r) return std::unexpected(r.error());
    return {};
  }
  util::Status start(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("StartUnit", unit, deadline);
  }
  util::Status stop(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("StopUnit", unit, deadline);
  }
  util::Status restart(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("RestartUnit", unit, deadline);
  }

  util::Result<UnitStatus> unit_status(const std::string& unit,
                                       std::chrono::milliseconds deadline) override {
    if (auto ok = validate_unit_name(unit); !ok) return std::unexpected(ok.error());
    std::lock_guard lock(m_mutex);
    const auto end = std::chrono::steady_clock::now() + deadline;
    const auto left = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(end -
                                                                   std::chrono::steady_clock::now());
    };
    // LoadUnit (not GetUnit): also answers for units that are not loaded right now.
    auto reply = call(k_manager_path, k_manager_iface, "LoadUnit", deadline, "LoadUnit " + unit,
                      [&](sd_bus_message* m) { return g_sd->bus_message_append(m, "s", unit.c_str()); });
    if (!reply) return std::unexpected(reply.error());
    const char* path_c = nullptr;
    if (int r = g_sd->bus_message_read(reply->get(), "o", &path_c); r < 0 || path_c == nullptr) {
      return util::fail(ErrorCode::corrupt, "LoadUnit " + unit + ": bad reply");
    }
    const std::string path = path_c;

    UnitStatus s;
    constexpr const char* unit_iface = "org.freedesktop.systemd1.Unit";
    constexpr const char* svc_iface = "org.freedesktop.systemd1.Service";
    struct StrProp { const char* iface; const char* name; std::string* out; };
    for (const StrProp& p : {StrProp{unit_iface, "LoadState", &s.load_state},
                             StrProp{unit_iface, "ActiveState", &s.active_state},
                             StrProp{unit_iface, "SubState", &s.sub_state}}) {
      auto v = get_property(path, p.iface, p.name, 's', left(), unit);
      if (!v) return std::unexpected(v.error());
      const char* str = nullptr;
      if (g_sd->bus_message_read_basic(v->get(), 's', &str) < 0 || str == nullptr) {
        return util::fail(ErrorCode::corrupt, fmt::format("{} {}: bad reply", unit, p.name));
      }
      *p.out = str;
    }
    if (s.load_state != "loaded") return s;  // no Service properties to read
    struct IntProp { const char* name; char type; int* out; };
    for (const IntProp& p : {IntProp{"MainPID", 'u', &s.main_pid},
                             IntProp{"NRestarts", 'u', &s.n_restarts},
                             IntProp{"ExecMainStatus", 'i', &s.exec_main_status},
                             IntProp{"ExecMainCode", 'i', &s.exec_main_code}}) {
      auto v = get_property(path, svc_iface, p.name, p.type, left(), unit);
      if (!v) return std::unexpected(v.error());
      int r = 0;
      if (p.type == 'u') {
        std::uint32_t u = 0;
        r = g_sd->bus_message_read_basic(v->get(), 'u', &u);
        *p.out = static_cast<int>(u);
      } else {
        std::int32_t i = 0;
        r = g_sd->bus_message_read_basic(v->get(), 'i', &i);
        *p.out = i;
      }
      if (r < 0) return util::fail(ErrorCode::corrupt, fmt::format("{} {}: bad reply", unit, p.name));
    }
    return s;
  }

  util::Result<std::vector<std::string>> journal_tail(const std::string& unit, int lines,
                                                      std::chrono::milliseconds deadline) override {
    return journal_tail_via_journalctl(m_journalctl, m_env_fix, unit, lines, deadline);
  }

  std::string_view backend() const override { return "sd-bus"; }

  // Reads the manager's Version property; proves that systemd answers on this bus.
  util::Status probe(std::chrono::milliseconds deadline) {
    std::lock_guard lock(m_mutex);
    auto v = get_property(k_manager_path, k_manager_iface, "Version", 's', deadline, "systemd");
    if (!v) return std::unexpected(v.error());
    return {};
  }

 private:
  util::Status job(const char* method, const std::string& unit, std::chrono::milliseconds deadline) {
    if (auto ok = validate_unit_name(unit); !ok) return std::unexpected(ok.error());
    std::lock_guard lock(m_mutex);
    auto r = call(k_manager_path, k_manager_iface, method, deadline,
                  fmt::format("{} {}", method, unit), [&](sd_bus_message* m) {
                    return g_sd->bus_message_append(m, "ss", unit.c_str(), "replace");
                  });
    if (!r) return std::unexpected(r.error());
    return {};
  }

  template <class Append>
  util::Result<MessagePtr> call(const std::string& path, const char* iface, const char* member,
                                std::chrono::milliseconds deadline, const std::string& what,
                                Append&& append) {
    if (deadline.count() <= 0) {
      return util::fail(ErrorCode::timeout, what + ": the deadline passed");
    }
    sd_bus_message* raw = nullptr;
    int r = g_sd->bus_message_new_method_call(m_bus.get(), &raw, k_dest, path.c_str(), iface, member);
    MessagePtr m(raw);
    if (r < 0) return util::fail(ErrorCode::internal, fmt::format("{}: {}", what, std::strerror(-r)));
    // Never let the bus start systemd on demand: it is there or it is not.
    (void)g_sd->bus_message_set_auto_start(m.get(), 0);
    if (r = append(m.get()); r < 0) {
      return util::fail(ErrorCode::internal, fmt::format("{}: {}", what, std::strerror(-r)));
    }
    ErrorGuard error;
    sd_bus_message* reply = nullptr;
    r = g_sd->bus_call(m_bus.get(), m.get(), to_usec(deadline), &error.error, &reply);
    MessagePtr reply_ptr(reply);
    if (r < 0) return std::unexpected(bus_error(what, r, error.error));
    return reply_ptr;
  }

  // Properties.Get; the returned message is positioned inside the variant.
  util::Result<MessagePtr> get_property(const std::string& path, const char* iface,
                                        const char* name, char type,
                                        std::chrono::milliseconds deadline,
                                        const std::string& unit) {
    const std::string what = fmt::format("reading {} of {}", name, unit);
    auto reply = call(path, "org.freedesktop.DBus.Properties", "Get", deadline, what,
                      [&](sd_bus_message* m) { return g_sd->bus_message_append(m, "ss", iface, name); });
    if (!reply) return reply;
    const char contents[2] = {type, '\0'};
    if (g_sd->bus_message_enter_container(reply->get(), 'v', contents) < 0) {
      return util::fail(ErrorCode::corrupt, what + ": unexpected type");
    }
    return reply;
  }

  BusPtr m_bus;
  std::string m_journalctl;
  std::map<std::string, std::string> m_env_fix;
  std::mutex m_mutex;  // sd_bus objects are not thread-safe
};

}  // namespace

util::Result<std::unique_ptr<SystemdManager>> open_sdbus_manager(
    const std::map<std::string, std::string>& env_fix, std::string journalctl_path,
    std::chrono::milliseconds probe_deadline) {
  std::string address;
  if (const char* a = std::getenv("DBUS_SESSION_BUS_ADDRESS"); a != nullptr && a[0] != '\0') {
    address = a;
  } else if (auto it = env_fix.find("DBUS_SESSION_BUS_ADDRESS"); it != env_fix.end()) {
    address = it->second;
  } else {
    return util::fail(ErrorCode::unavailable,
                      "no user bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no "
                      "/run/user/<uid>/bus)");
  }
  if (auto loaded = load_sdbus(); !loaded) return std::unexpected(loaded.error());
  sd_bus* raw = nullptr;
  int r = g_sd->bus_new(&raw);
  BusPtr bus(raw);
  if (r < 0) return util::fail(ErrorCode::internal, fmt::format("sd_bus_new: {}", std::strerror(-r)));
  const auto fail_with = [&](std::string_view step, int rc) {
    return util::fail(ErrorCode::unavailable, fmt::format("user bus {}: {}: {}", address, step,
                                                          std::strerror(-rc)));
  };
  if (r = g_sd->bus_set_address(bus.get(), address.c_str()); r < 0) return fail_with("address", r);
  if (r = g_sd->bus_set_bus_client(bus.get(), 1); r < 0) return fail_with("client mode", r);
  if (r = g_sd->bus_set_method_call_timeout(bus.get(), to_usec(probe_deadline)); r < 0) {
    return fail_with("timeout", r);
  }
  if (r = g_sd->bus_start(bus.get()); r < 0) return fail_with("connect", r);

  auto manager = std::make_unique<SdBusSystemdManager>(std::move(bus), std::move(journalctl_path),
                                                       env_fix);
  if (auto ok = manager->probe(probe_deadline); !ok) {
    return util::fail(ErrorCode::unavailable,
                      fmt::format("systemd does not answer on the user bus {}: {}", address,
                                  ok.error().message));
  }
  return std::unique_ptr<SystemdManager>(std::move(manager));
}

#endif  // GPUMOD_HAVE_SDBUS

}  // namespace gpumod::infra::systemd::detail
