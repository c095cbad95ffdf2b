#include "gpumod/infra/process/spawner.hpp"

#include "gpumod/util/fd.hpp"
#include "gpumod/util/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

extern char** environ;

namespace gpumod::infra::process {
namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

using Clock = std::chrono::steady_clock;

using util::Fd;

int sys_pidfd_open(int pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int sys_pidfd_send_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
#else
  (void)pidfd;
  (void)sig;
  errno = ENOSYS;
  return -1;
#endif
}

ExitInfo exit_info_from_status(int status) {
  ExitInfo info;
  info.known = true;
  if (WIFEXITED(status)) {
    info.exited = true;
    info.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  return info;
}

// What the child reports through the CLOEXEC pipe when it cannot exec.
enum class ChildStage : int { setsid = 1, stdio = 2, chdir = 3, exec = 4 };
struct ChildFailure {
  int stage = 0;
  int err = 0;
};

[[noreturn]] void child_fail(int errpipe_w, ChildStage stage) {
  ChildFailure f{static_cast<int>(stage), errno};
  (void)!::write(errpipe_w, &f, sizeof f);
  ::_exit(127);
}

// Child side after fork: only async-signal-safe calls. Never returns.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, const char* cwd,
                             int log_fd, int errpipe_w) {
  if (::setsid() < 0) child_fail(errpipe_w, ChildStage::setsid);
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &sa, nullptr);
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull < 0) child_fail(errpipe_w, ChildStage::stdio);
  int out = log_fd >= 0 ? log_fd : devnull;
  if (::dup2(devnull, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) child_fail(errpipe_w, ChildStage::stdio);
  if (cwd != nullptr && ::chdir(cwd) != 0) child_fail(errpipe_w, ChildStage::chdir);
  // Every descriptor above stderr closes at exec; the error pipe stays open until then.
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  ::execve(path, argv, envp);
  child_fail(errpipe_w, ChildStage::exec);
}

struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;
  int log_fd;
  int errpipe_w;
};

// vfork + exec_child with every signal blocked around the vfork (no handler of ours may run in
// the child while it shares our memory). Returns the pid, or -1 with fork_errno set.
__attribute__((noinline)) pid_t vfork_exec(const ChildArgs& a, int& fork_errno) {
  sigset_t all, saved;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  const pid_t pid = ::vfork();
  if (pid == 0) exec_child(a.path, a.argv, a.envp, a.cwd, a.log_fd, a.errpipe_w);
  fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return pid;
}

std::string_view signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGKILL: return "SIGKILL";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGPIPE: return "SIGPIPE";
    default: return "";
  }
}

// Waits until the pidfd is readable (the process exited) or the deadline passes.
bool poll_pidfd(int pidfd, Clock::time_point deadline) {
  while (true) {
    auto now = Clock::now();
    long long left_ms = now >= deadline ? 0
        : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    pollfd p{pidfd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left_ms, 1 << 30)));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::string ExitInfo::describe() const {
  if (!known) return "exited (status unknown)";
  if (exited) return fmt::format("exit code {}", exit_code);
  auto name = signal_name(signal);
  if (name.empty()) return fmt::format("killed by signal {}", signal);
  return fmt::format("killed by signal {} ({})", signal, name);
}

util::Status LinuxProcessSpawner::can_start(const SpawnSpec& spec) const {
  if (spec.argv.empty() || spec.argv.front().empty()) {
    return util::fail(util::ErrorCode::invalid_argument, "spawn: empty argv");
  }
  std::string path_var;
  if (const auto it = spec.env.find("PATH"); it != spec.env.end()) {
    path_var = it->second;
  } else if (const char* p = spec.inherit_env ? std::getenv("PATH") : nullptr) {
    path_var = p;
  } else {
    path_var = "/usr/local/bin:/usr/bin:/bin";
  }
  if (util::find_program_in(spec.argv.front(), path_var).empty()) {
    return util::fail(util::ErrorCode::not_found,
                      fmt::format("cannot start '{}': not found on PATH or not executable", spec.argv.front()));
  }
  std::error_code ec;
  if (!spec.cwd.empty() && !std::filesystem::is_directory(spec.cwd, ec)) {
    return util::fail(util::ErrorCode::not_found, "working directory " + spec.cwd.string() + " does not exist");
  }
  return {};
}

util::Result<ProcessIdentity> LinuxProcessSpawner::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) {
    return util::fail(util::ErrorCode::invalid_argument, "spawn: empty argv");
  }
  const std::string& program = spec.argv.front();

  // The child's environment.
  std::map<std::string, std::string> env;
  if (spec.inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  std::string path_var = env.contains("PATH") ? env["PATH"] : std::string("/usr/local/bin:/usr/bin:/bin");

  std::string resolved = util::find_program_in(program, path_var);
  if (resolved.empty()) {
    return util::fail(util::ErrorCode::not_found,
                      fmt::format("cannot start '{}': not found on PATH or not executable", program));
  }

  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> c_env;
  for (auto& s : env_strings) c_env.push_back(s.data());
  c_env.push_back(nullptr);
  std::vector<char*> c_argv;
  for (const auto& a : spec.argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::string cwd = spec.cwd.string();

  Fd log_fd;
  if (!spec.log_file.empty()) {
    std::error_code ec;
    auto parent = spec.log_file.parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return util::fail(util::ErrorCode::io, fmt::format("cannot create log directory {}: {}", parent.string(), ec.message()));
    }
    log_fd.reset(::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (log_fd.get() < 0) {
      return util::fail(util::ErrorCode::io,
                        fmt::format("cannot open log file {}: {}", spec.log_file.string(), std::strerror(errno)));
    }
  }

  int ep[2];
  if (::pipe2(ep, O_CLOEXEC) != 0) {
    return util::fail(util::ErrorCode::failed, fmt::format("spawn {}: pipe: {}", program, std::strerror(errno)));
  }
  Fd err_r(ep[0]), err_w(ep[1]);

  // Hold the lock across fork + record so a concurrent wait cannot see the pid unrecorded.
  std::unique_lock lock(m_mutex);
  // vfork, as posix_spawn does: the child borrows our memory until it execs, so nothing is copied
  // (a fork of the daemon copied its page tables and then took copy-on-write faults in every
  // thread: milliseconds per start). The child only makes async-signal-safe calls on values
  // prepared above, and every signal stays blocked until it has reset the handlers.
  const ChildArgs child{resolved.c_str(), c_argv.data(), c_env.data(), cwd.empty() ? nullptr : cwd.c_str(),
                        log_fd.get(), err_w.get()};
  int fork_errno = 0;
  const pid_t pid = vfork_exec(child, fork_errno);
  if (pid < 0) {
    return util::fail(util::ErrorCode::failed, fmt::format("spawn {}: vfork: {}", program, std::strerror(fork_errno)));
  }
  err_w.reset();
  log_fd.reset();

  ChildFailure failure;
  ssize_t n;
  do {
    n = ::read(err_r.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    auto stage = static_cast<ChildStage>(failure.stage);
    bool missing = failure.err == ENOENT || failure.err == EACCES || failure.err == ENOTDIR;
    std::string what;
    switch (stage) {
      case ChildStage::setsid: what = "setsid"; break;
      case ChildStage::stdio: what = "redirecting stdio"; break;
      case ChildStage::chdir: what = fmt::format("changing to directory {}", cwd); break;
      case ChildStage::exec: what = fmt::format("executing {}", resolved); break;
    }
    return util::fail(missing ? util::ErrorCode::not_found : util::ErrorCode::failed,
                      fmt::format("cannot start '{}': {} failed: {}", program, what, std::strerror(failure.err)));
  }

  auto start = process_start_time(pid);  // our unreaped child: /proc/<pid> exists
  if (!start) {
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return util::fail(util::ErrorCode::failed,
                      fmt::format("started '{}' (pid {}) but cannot read its start time: {}", program, pid,
                                  start.error().message));
  }
  prune_locked();
  m_children[pid] = ChildRecord{*start, std::nullopt};
  return ProcessIdentity{pid, *start};
}

bool LinuxProcessSpawner::is_own_child(const ProcessIdentity& identity) const {
  std::lock_guard lock(m_mutex);
  auto it = m_children.find(identity.pid);
  return it != m_children.end() && it->second.start_time_ticks == identity.start_time_ticks;
}

void LinuxProcessSpawner::prune_locked() {
  if (m_children.size() < 1024) return;
  for (auto it = m_children.begin(); it != m_children.end();) {
    it = it->second.exit ? m_children.erase(it) : std::next(it);
  }
}

std::optional<ExitInfo> LinuxProcessSpawner::try_reap(const ProcessIdentity& identity) {
  std::lock_guard lock(m_mutex);
  auto it = m_children.find(identity.pid);
  if (it == m_children.end() || it->second.start_time_ticks != identity.start_time_ticks) return std::nullopt;
  if (it->second.exit) return it->second.exit;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(identity.pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == identity.pid) {
    it->second.exit = exit_info_from_status(status);
  } else if (r < 0) {
    it->second.exit = ExitInfo{};  // ECHILD: reaped elsewhere (SIGCHLD ignored?); status unknown
  }
  return it->second.exit;
}

bool LinuxProcessSpawner::alive(const ProcessIdentity& identity) {
  if (!is_same_process_alive(identity)) {
    try_reap(identity);  // an own zombie is reaped now
    return false;
  }
  return true;
}

std::optional<ExitInfo> LinuxProcessSpawner::wait_exit(const ProcessIdentity& identity,
                                                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const bool own = is_own_child(identity);
  if (own) {
    if (auto done = try_reap(identity)) return done;
  }
  Fd pidfd(sys_pidfd_open(identity.pid));
  // After opening, check that the pid still names the same process (it may have been recycled).
  if (!is_same_process_present(identity)) {
    if (own) {
      if (auto done = try_reap(identity)) return done;
    }
    return ExitInfo{};
  }
  if (pidfd.get() < 0) {
    // No pidfd (ENOSYS on very old kernels, or the process vanished): report the state we see.
    if (errno == ESRCH) return own ? try_reap(identity).value_or(ExitInfo{}) : ExitInfo{};
    if (!is_same_process_alive(identity)) return own ? try_reap(identity).value_or(ExitInfo{}) : ExitInfo{};
    return std::nullopt;
  }
  if (!poll_pidfd(pidfd.get(), deadline)) return std::nullopt;
  if (own) {
    if (auto done = try_reap(identity)) return done;
    return ExitInfo{};
  }
  return ExitInfo{};
}

util::Result<ExitInfo> LinuxProcessSpawner::stop(const ProcessIdentity& identity, std::chrono::milliseconds grace) {
  const bool own = is_own_child(identity);
  Fd pidfd(sys_pidfd_open(identity.pid));
  if (!is_same_process_alive(identity)) {
    // Already gone (or a zombie): nothing to signal; an own zombie is reaped.
    if (own) {
      if (auto done = try_reap(identity)) return *done;
    }
    return ExitInfo{};
  }
  // The pid names our process now. The group is signalled when the process leads one (spawn()
  // arranges that with setsid); otherwise the process alone, through the pidfd when there is one.
  const bool leads_group = ::getpgid(identity.pid) == identity.pid;
  auto send = [&](int sig) -> util::Status {
    int rc = leads_group ? ::kill(-identity.pid, sig)
             : pidfd.get() >= 0 ? sys_pidfd_send_signal(pidfd.get(), sig)
                                : ::kill(identity.pid, sig);
    if (rc != 0 && errno == EPERM) {
      return util::fail(util::ErrorCode::failed,
                        fmt::format("not permitted to signal process {}: {}", identity.pid, std::strerror(errno)));
    }
    return {};
  };
  // Waits for the exit without reaping, so the pid (and the group id) cannot be recycled before the
  // group sweep below.
  auto gone_within = [&](std::chrono::milliseconds timeout) {
    if (pidfd.get() >= 0) return poll_pidfd(pidfd.get(), Clock::now() + timeout) || !is_same_process_alive(identity);
    return wait_exit(identity, timeout).has_value();  // no pidfd support: best effort
  };
  auto finish = [&]() -> ExitInfo {
    if (leads_group) ::kill(-identity.pid, SIGKILL);  // members left behind by the leader
    if (own) {
      if (auto done = try_reap(identity)) return *done;
    }
    return ExitInfo{};
  };

  if (auto s = send(SIGTERM); !s) return std::unexpected(s.error());
  // A stopped (frozen, SIGSTOP) process acts on SIGTERM only once continued: without this it
  // cost the whole grace period and then a SIGKILL (#19 F4).
  (void)send(SIGCONT);
  if (gone_within(grace)) return finish();
  if (auto s = send(SIGKILL); !s) return std::unexpected(s.error());
  if (gone_within(k_kill_confirm_timeout)) return finish();
  return util::fail(util::ErrorCode::timeout,
                    fmt::format("process {} still present {} ms after SIGKILL", identity.pid,
                                k_kill_confirm_timeout.count()));
}

}  // namespace gpumod::infra::process
