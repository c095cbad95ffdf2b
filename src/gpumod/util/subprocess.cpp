// Implementation of run_capture / find_program (see subprocess.hpp).
// fork + execve with everything the child needs prepared before the fork, so the child only makes
// async-signal-safe calls (safe in a multi-threaded daemon). The child gets its own process group,
// so a deadline kills the program and everything it started.
#include "gpumod/util/subprocess.hpp"

#include "gpumod/util/fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

extern char** environ;

namespace gpumod::util {
namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

bool is_executable_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) return false;
  return ::access(path.c_str(), X_OK) == 0;
}

std::string lookup_on_path(const std::string& name, std::string_view path_var) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return is_executable_file(name) ? name : std::string{};
  std::size_t start = 0;
  while (start <= path_var.size()) {
    std::size_t end = path_var.find(':', start);
    if (end == std::string_view::npos) end = path_var.size();
    std::string_view dir = path_var.substr(start, end - start);
    std::string candidate = fmt::format("{}/{}", dir.empty() ? std::string_view(".") : dir, name);
    if (is_executable_file(candidate)) return candidate;
    start = end + 1;
  }
  return {};
}

std::string current_path_var() {
  const char* p = std::getenv("PATH");
  return p != nullptr ? std::string(p) : std::string("/usr/local/bin:/usr/bin:/bin");
}

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Waits for a specific pid, retrying on EINTR. Returns the raw status, or -1 (ECHILD: someone
// else reaped it or SIGCHLD is ignored).
int wait_for(pid_t pid) {
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, 0);
    if (r == pid) return status;
    if (r < 0 && errno == EINTR) continue;
    return -1;
  }
}

int exit_code_from(int status) {
  if (status < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Child side after fork: only async-signal-safe calls. Never returns.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, int out_w,
                             int err_w, int errpipe_w) {
  ::setpgid(0, 0);
  // Default dispositions and an empty mask: the daemon may block or ignore signals.
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &sa, nullptr);
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0 && devnull != 0) {
    ::dup2(devnull, 0);
    ::close(devnull);
  }
  if (::dup2(out_w, 1) < 0 || ::dup2(err_w, 2) < 0) {
    int e = errno;
    (void)!::write(errpipe_w, &e, sizeof e);
    ::_exit(127);
  }
  // Every other descriptor is closed at exec (ours are CLOEXEC already; this catches fds other
  // threads opened without it). The error pipe stays open until exec succeeds.
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  ::execve(path, argv, envp);
  int e = errno;
  (void)!::write(errpipe_w, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

std::string find_program(const std::string& name) { return lookup_on_path(name, current_path_var()); }

std::string find_program_in(const std::string& name, std::string_view path_var) {
  return lookup_on_path(name, path_var);
}

Result<CaptureResult> run_capture(const std::vector<std::string>& argv, const CaptureOptions& options) {
  if (argv.empty() || argv.front().empty()) {
    return fail(ErrorCode::invalid_argument, "run_capture: empty argv");
  }
  const std::string& program = argv.front();

  // Environment: the current one with the overrides applied.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    std::string key(kv.substr(0, eq));
    if (options.env_overrides.contains(key)) continue;
    env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : options.env_overrides) env_strings.push_back(k + "=" + v);

  std::string path_var = current_path_var();
  if (auto it = options.env_overrides.find("PATH"); it != options.env_overrides.end()) path_var = it->second;
  std::string resolved = lookup_on_path(program, path_var);
  if (resolved.empty()) {
    return fail(ErrorCode::not_found, fmt::format("program '{}' not found or not executable", program));
  }

  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  c_env.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) c_env.push_back(s.data());
  c_env.push_back(nullptr);

  int out_p[2], err_p[2], exec_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0) {
    return fail(ErrorCode::io, fmt::format("run_capture {}: pipe: {}", program, std::strerror(errno)));
  }
  Fd out_r(out_p[0]), out_w(out_p[1]);
  if (::pipe2(err_p, O_CLOEXEC) != 0) {
    return fail(ErrorCode::io, fmt::format("run_capture {}: pipe: {}", program, std::strerror(errno)));
  }
  Fd err_r(err_p[0]), err_w(err_p[1]);
  if (::pipe2(exec_p, O_CLOEXEC) != 0) {
    return fail(ErrorCode::io, fmt::format("run_capture {}: pipe: {}", program, std::strerror(errno)));
  }
  Fd exec_r(exec_p[0]), exec_w(exec_p[1]);

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options.deadline;

  pid_t pid = ::fork();
  if (pid < 0) {
    return fail(ErrorCode::io, fmt::format("run_capture {}: fork: {}", program, std::strerror(errno)));
  }
  if (pid == 0) exec_child(resolved.c_str(), c_argv.data(), c_env.data(), out_w.get(), err_w.get(), exec_w.get());

  ::setpgid(pid, pid);  // also done in the child; whichever runs first wins the race
  out_w.reset();
  err_w.reset();
  exec_w.reset();

  // Exec result: EOF means exec succeeded (the CLOEXEC write end closed).
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_r.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    wait_for(pid);
    ErrorCode code = (child_errno == ENOENT || child_errno == EACCES || child_errno == ENOTDIR ||
                      child_errno == ENOEXEC)
                         ? ErrorCode::not_found
                         : ErrorCode::io;
    return fail(code, fmt::format("cannot execute '{}': {}", resolved, std::strerror(child_errno)));
  }

  Fd pidfd(pidfd_open(pid));
  CaptureResult result;
  bool out_open = true, err_open = true, exited = false;
  int raw_status = -1;
  std::array<char, 16384> buf{};

  auto try_reap = [&]() {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) {
      raw_status = status;
      exited = true;
    } else if (r < 0) {
      exited = true;  // ECHILD: reaped elsewhere; status unknown
    }
  };

  bool timed_out = false;
  while (out_open || err_open || !exited) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    std::array<pollfd, 3> fds{};
    nfds_t nfds = 0;
    int out_idx = -1, err_idx = -1, pid_idx = -1;
    if (out_open) { out_idx = static_cast<int>(nfds); fds[nfds++] = {out_r.get(), POLLIN, 0}; }
    if (err_open) { err_idx = static_cast<int>(nfds); fds[nfds++] = {err_r.get(), POLLIN, 0}; }
    if (!exited && pidfd.get() >= 0) { pid_idx = static_cast<int>(nfds); fds[nfds++] = {pidfd.get(), POLLIN, 0}; }
    int timeout_ms = static_cast<int>(std::min<long long>(left_ms, 1000 * 60 * 60));
    if (!exited && pidfd.get() < 0 && !out_open && !err_open) {
      // No pidfd (old kernel): the pipes are closed, wait for the exit in short steps.
      timeout_ms = std::min(timeout_ms, 10);
    }
    int pr = ::poll(fds.data(), nfds, timeout_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      timed_out = false;
      ::kill(-pid, SIGKILL);
      wait_for(pid);
      return fail(ErrorCode::io, fmt::format("run_capture {}: poll: {}", program, std::strerror(errno)));
    }
    auto drain = [&](int idx, Fd& fd, std::string& into, bool& open) {
      if (idx < 0 || (fds[static_cast<std::size_t>(idx)].revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
      ssize_t r = ::read(fd.get(), buf.data(), buf.size());
      if (r < 0 && errno == EINTR) return;
      if (r <= 0) {
        open = false;
        return;
      }
      std::size_t room = options.max_output_bytes > into.size() ? options.max_output_bytes - into.size() : 0;
      into.append(buf.data(), std::min(room, static_cast<std::size_t>(r)));
    };
    drain(out_idx, out_r, result.out, out_open);
    drain(err_idx, err_r, result.err, err_open);
    if (!exited && (pid_idx >= 0 ? (fds[static_cast<std::size_t>(pid_idx)].revents & POLLIN) != 0
                                 : (!out_open && !err_open))) {
      try_reap();
    }
  }

  if (timed_out) {
    ::kill(-pid, SIGKILL);  // the whole group: the program and what it started
    if (!exited) wait_for(pid);
    return fail(ErrorCode::timeout,
                fmt::format("'{}' did not finish within {} ms; killed", program, options.deadline.count()));
  }
  result.exit_code = exit_code_from(raw_status);
  return result;
}

}  // namespace gpumod::util
