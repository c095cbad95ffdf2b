// gpumod-bench-runtime: end-to-end timings of the gpumod runtime (daemon + CLI + engine +
// drivers) against gpumod-mock-server, on a simulated GPU, in a private temporary directory.
//
//   start   service start overhead: `gpumod service start` returns minus the moment the mock
//           server became ready (--mock-ready-file timestamp, CLOCK_MONOTONIC), N runs.
//   status  `gpumod status --json` with 20 services (8 running, 12 stopped): the CLI process
//           time, and GET /v1/status over the daemon's Unix socket measured in-process.
//   switch  a 3-service mode switch A -> B -> A ... (never a no-op, W18): wall time minus the
//           mock delays on the critical path, and per-step overheads from the switch JSON.
//
// Usage: gpumod-bench-runtime [--bin DIR] [--only start,status,switch] [--runs-start N]
//                             [--runs-status N] [--runs-switch N] [--keep]
// Prints a summary table and, for bench/run_all.sh, one "SUMMARY|name|median|p90|target|verdict"
// line per figure. Timing only; nothing here asserts. Single-threaded.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gpumod/infra/http/client.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct Stats {
  std::size_t n = 0;
  double median = 0, p90 = 0, min = 0, max = 0, mean = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::ranges::sort(v);
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  // Nearest-rank 90th percentile.
  const auto rank = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(v.size())));
  s.p90 = v[std::max<std::size_t>(rank, 1) - 1];
  return s;
}

std::string fmt_ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string describe(const Stats& s) {
  return "median " + fmt_ms(s.median) + " ms, p90 " + fmt_ms(s.p90) + ", min " + fmt_ms(s.min) + ", max " +
         fmt_ms(s.max) + ", mean " + fmt_ms(s.mean) + " (n=" + std::to_string(s.n) + ")";
}

struct SummaryRow {
  std::string name;
  Stats stats;
  std::optional<double> target_ms;  // the median must stay below it
  std::string note;
};

std::vector<SummaryRow> g_summary;

void add_row(std::string name, const Stats& s, std::optional<double> target, std::string note = "") {
  g_summary.push_back({std::move(name), s, target, std::move(note)});
}

// ---------------------------------------------------------------------------------------------
// Machine

std::string read_first(const fs::path& p, const std::string& key) {
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "?";
}

void print_machine() {
  utsname u{};
  ::uname(&u);
  std::cout << "machine: nproc " << std::thread::hardware_concurrency() << ", CPU "
            << read_first("/proc/cpuinfo", "model name") << ", kernel " << u.release << " (" << u.machine << ")\n";
  std::cout << "load average: ";
  std::ifstream la("/proc/loadavg");
  std::string l;
  std::getline(la, l);
  std::cout << l << "\n";
}

// ---------------------------------------------------------------------------------------------
// Processes

struct RunResult {
  int exit_code = -1;
  double wall_ms = 0;
  Clock::time_point ended;  // when waitpid returned
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv (no shell) with env, waits, and returns its exit code, wall time and output.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env, const fs::path& scratch) {
  RunResult r;
  const fs::path out = scratch / "cmd.out";
  const fs::path err = scratch / "cmd.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  std::vector<char*> e;
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
  pid_t pid = 0;
  const auto t0 = Clock::now();
  const int rc = posix_spawn(&pid, a[0], &fa, nullptr, a.data(), e.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.err = std::string("posix_spawn ") + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const auto t1 = Clock::now();
  r.ended = t1;
  r.wall_ms = ms_between(t0, t1);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool is_mock_process(int pid, const fs::path& mock) {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return !ec && exe.filename() == mock.filename();
}

// ---------------------------------------------------------------------------------------------
// A private gpumod installation: config, runtime and state dirs, simulated GPU, its own daemon.

struct Service {
  std::string id;
  std::string driver;  // vllm | http | llamacpp
  int port = 0;
  int vram_mib = 1000;
  std::map<std::string, std::string> env;  // GPUMOD_MOCK_* for the mock
  std::string model;                       // router model id (llamacpp)
  std::string router_models;               // llamacpp: "a=MiB,b=MiB" every model of the router
};

class Sandbox {
 public:
  Sandbox(const fs::path& bin, bool keep) : m_gpumod(bin / "gpumod"), m_mock(bin / "gpumod-mock-server"), m_keep(keep) {
    char tmpl[] = "/tmp/gpumod-bench-XXXXXX";
    m_root = ::mkdtemp(tmpl);
    for (const char* d : {"run", "state", "gpu", "cfg/presets", "cfg/modes", "scratch"}) {
      fs::create_directories(m_root / d);
    }
    fs::permissions(m_root / "run", fs::perms::owner_all, fs::perm_options::replace);
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      if (kv.rfind("GPUMOD_", 0) == 0 || kv.rfind("XDG_", 0) == 0 || kv.rfind("VLLM_", 0) == 0) continue;
      m_env.push_back(kv);
    }
    m_env.push_back("XDG_RUNTIME_DIR=" + (m_root / "run").string());
    m_env.push_back("XDG_STATE_HOME=" + (m_root / "state").string());
    m_env.push_back("XDG_CONFIG_HOME=" + (m_root / "xdg-config").string());
    m_env.push_back("GPUMOD_SIM_GPU_DIR=" + (m_root / "gpu").string());
    m_env.push_back("GPUMOD_CONFIG_DIR=" + (m_root / "cfg").string());
    m_env.push_back("GPUMOD_LLAMA_SERVER_BIN=" + m_mock.string());
    m_env.push_back("GPUMOD_VLLM_BIN=" + m_mock.string());
    std::ofstream(m_root / "cfg" / "gpumod.yaml") << "gpu:\n  simulate:\n    name: \"bench GPU (simulated)\"\n"
                                                     "    total_mib: 81920\n    only_without_gpu: false\n"
                                                     "vram_margin_mib: 512\n";
  }
  ~Sandbox() {
    (void)cli({"daemon", "stop", "--with-services"});
    // Safety net: mock servers of this sandbox still alive (their ledger entries name them).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(m_root / "gpu", ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
      const int pid = std::stoi(name);
      if (is_mock_process(pid, m_mock)) ::kill(pid, SIGKILL);
    }
    if (!m_keep) fs::remove_all(m_root, ec);
    else std::cout << "kept " << m_root.string() << "\n";
  }
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const fs::path& root() const { return m_root; }
  const fs::path& mock() const { return m_mock; }
  fs::path socket() const { return m_root / "run" / "gpumod" / "daemon.sock"; }

  void add_service(const Service& s) {
    std::ofstream f(m_root / "cfg" / "presets" / (s.id + ".yaml"));
    f << "id: " << s.id << "\nname: " << s.id << "\ndriver: " << s.driver << "\nport: " << s.port
      << "\nvram_mb: " << s.vram_mib << "\nstartup_timeout: 60\nstop_timeout: 10\n";
    std::map<std::string, std::string> env = s.env;
    if (s.driver == "vllm") {
      f << "model_id: bench/" << s.id << "\nsupports_sleep: true\nsleep_mode: l1\n"
        << "unit_vars:\n  vllm_bin: \"" << m_mock.string() << "\"\n  max_model_len: 4096\n";
      env["GPUMOD_MOCK_VRAM_MIB"] = std::to_string(s.vram_mib);
    } else if (s.driver == "http") {
      f << "health_endpoint: /health\ncommand: [\"" << m_mock.string() << "\", \"--mock-flavor\", \"http\", \"--host\", "
        << "\"127.0.0.1\", \"--port\", \"" << s.port << "\"]\n";
      env["GPUMOD_MOCK_VRAM_MIB"] = std::to_string(s.vram_mib);
    } else {
      f << "model_id: bench/" << s.model << "\nsupports_sleep: true\nsleep_mode: router\n"
        << "unit_vars:\n  llamacpp_bin: \"" << m_mock.string() << "\"\n  models_dir: \"" << (m_root / "no-models").string()
        << "\"\n  models_max: 1\n  no_models_autoload: true\n  default_model: " << s.model << "\n";
      // models_dir does not exist: the mock router then serves the models named here, file-less.
      env["GPUMOD_MOCK_MODEL_VRAM"] = s.router_models;
    }
    if (!env.empty()) {
      f << "env:\n";
      for (const auto& [k, v] : env) f << "  " << k << ": \"" << v << "\"\n";
    }
  }

  void add_mode(const std::string& id, const std::vector<std::string>& services) {
    std::ofstream f(m_root / "cfg" / "modes" / (id + ".yaml"));
    f << "id: " << id << "\nname: " << id << "\nservices:\n";
    for (const auto& s : services) f << "  - " << s << "\n";
  }

  // The mock server's own process start (exec, dynamic linking, option parsing; it refuses
  // --help and exits): part of every "start" step's elapsed time that is not gpumod's.
  double mock_process_start_ms() { return run({m_mock.string(), "--help"}, m_env, m_root / "scratch").wall_ms; }

  RunResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), m_gpumod.string());
    return run(args, m_env, m_root / "scratch");
  }

  // Runs a CLI command that must succeed; prints what went wrong otherwise.
  bool must(const std::vector<std::string>& args, RunResult* out = nullptr) {
    auto r = cli(args);
    if (out) *out = r;
    if (r.exit_code == 0) return true;
    std::string line;
    for (const auto& a : args) line += " " + a;
    std::cerr << "bench: 'gpumod" << line << "' failed (exit " << r.exit_code << "):\n" << r.err << r.out << "\n";
    std::cerr << "daemon log tail:\n" << tail(m_root / "state" / "gpumod" / "daemon.log", 20);
    return false;
  }

  static std::string tail(const fs::path& p, std::size_t n) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    std::string l;
    while (std::getline(in, l)) lines.push_back(l);
    std::string out;
    for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
    return out;
  }

 private:
  fs::path m_gpumod;
  fs::path m_mock;
  bool m_keep;
  fs::path m_root;
  std::vector<std::string> m_env;
};

// "<realtime ns> <monotonic ns>" written by the mock; the monotonic clock is steady_clock's.
std::optional<Clock::time_point> read_ready(const fs::path& p) {
  std::ifstream in(p);
  long long real_ns = 0, mono_ns = 0;
  if (!(in >> real_ns >> mono_ns)) return std::nullopt;
  return Clock::time_point(std::chrono::nanoseconds(mono_ns));
}

// ---------------------------------------------------------------------------------------------
// 1. Service start overhead

bool bench_start_one(const fs::path& bin, bool keep, const std::string& driver, int runs, int delay_ms) {
  Sandbox sb(bin, keep);
  const fs::path ready = sb.root() / "ready";
  Service s{"svc-" + driver, driver, free_port(), 1000, {}, "", ""};
  s.env["GPUMOD_MOCK_START_DELAY_MS"] = std::to_string(delay_ms);
  s.env["GPUMOD_MOCK_READY_FILE"] = ready.string();
  sb.add_service(s);
  if (!sb.must({"daemon", "start"})) return false;
  // One unmeasured start/stop: warms the page cache and the daemon's first-use paths.
  if (!sb.must({"service", "start", s.id}) || !sb.must({"service", "stop", s.id})) return false;
  std::vector<double> overhead, total, after_delay, stop;
  for (int i = 0; i < runs; ++i) {
    std::error_code ec;
    fs::remove(ready, ec);
    RunResult r;
    if (!sb.must({"service", "start", s.id}, &r)) return false;
    const auto t1 = r.ended;
    const auto ready_at = read_ready(ready);
    if (!ready_at) {
      std::cerr << "bench: the mock wrote no ready file (" << ready << ")\n";
      return false;
    }
    overhead.push_back(ms_between(*ready_at, t1));
    total.push_back(r.wall_ms);
    after_delay.push_back(r.wall_ms - delay_ms);
    if (!sb.must({"service", "stop", s.id}, &r)) return false;
    stop.push_back(r.wall_ms);
  }
  const auto so = stats_of(overhead);
  const auto st = stats_of(total);
  std::cout << "\n[start/" << driver << "] " << runs << " x (service start; service stop), mock start delay "
            << delay_ms << " ms\n";
  std::cout << "  CLI start wall time:        " << describe(st) << "\n";
  std::cout << "  wall - configured delay:    " << describe(stats_of(after_delay)) << "\n";
  std::cout << "  overhead (return - ready):  " << describe(so) << "\n";
  std::cout << "  overhead / configured delay: median " << fmt_ms(100.0 * so.median / delay_ms) << " %, p90 "
            << fmt_ms(100.0 * so.p90 / delay_ms) << " %\n";
  std::cout << "  service stop wall time:     " << describe(stats_of(stop)) << "\n";
  add_row("start overhead (" + driver + ", delay " + std::to_string(delay_ms) + " ms)", so, 20.0,
          fmt_ms(100.0 * so.median / delay_ms) + " % of the delay");
  add_row("service stop (" + driver + ")", stats_of(stop), std::nullopt, "CLI wall time");
  return true;
}

bool bench_start(const fs::path& bin, bool keep, int runs) {
  bool ok = bench_start_one(bin, keep, "vllm", runs, 200);
  ok = bench_start_one(bin, keep, "http", runs, 200) && ok;
  return ok;
}

// ---------------------------------------------------------------------------------------------
// 2. status with 20 services

bool bench_status(const fs::path& bin, bool keep, int runs) {
  Sandbox sb(bin, keep);
  std::vector<std::string> on;
  // 6 vLLM (3 running), 8 http apps (4 running), 6 models of one llama-server router (1 loaded).
  for (int i = 1; i <= 6; ++i) {
    Service s{"vllm-" + std::to_string(i), "vllm", free_port(), 2000, {}, "", ""};
    sb.add_service(s);
    if (i <= 3) on.push_back(s.id);
  }
  for (int i = 1; i <= 8; ++i) {
    Service s{"app-" + std::to_string(i), "http", free_port(), 500, {}, "", ""};
    sb.add_service(s);
    if (i <= 4) on.push_back(s.id);
  }
  const int router_port = free_port();
  std::string models;
  for (int i = 1; i <= 6; ++i) models += (models.empty() ? "" : ",") + ("chat-" + std::to_string(i)) + "=3000";
  for (int i = 1; i <= 6; ++i) {
    Service s{"chat-" + std::to_string(i), "llamacpp", router_port, 3000, {}, "chat-" + std::to_string(i), models};
    sb.add_service(s);
    if (i == 1) on.push_back(s.id);
  }
  sb.add_mode("half", on);
  RunResult r;
  if (!sb.must({"mode", "switch", "half", "--json"}, &r)) return false;
  if (!sb.must({"status", "--json"}, &r)) return false;
  int running = 0, total = 0;
  try {
    const json status = json::parse(r.out);
    for (const auto& s : status.at("services")) {
      ++total;
      if (s["state"] == "running") ++running;
    }
  } catch (const std::exception& e) {
    std::cerr << "bench: status --json is not JSON: " << e.what() << "\n";
    return false;
  }
  std::vector<double> cli_json, cli_text, cli_version, http_reuse, http_fresh;
  for (int i = 0; i < runs; ++i) {
    if (!sb.must({"status", "--json"}, &r)) return false;
    cli_json.push_back(r.wall_ms);
    if (!sb.must({"status"}, &r)) return false;
    cli_text.push_back(r.wall_ms);
    if (!sb.must({"--version"}, &r)) return false;
    cli_version.push_back(r.wall_ms);
  }
  auto client = gpumod::infra::http::make_unix_client(sb.socket());
  (void)client->get("/v1/status", std::chrono::milliseconds(10000));  // opens the connection
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    auto g = client->get("/v1/status", std::chrono::milliseconds(10000));
    const auto t1 = Clock::now();
    if (!g || g->status != 200) {
      std::cerr << "bench: GET /v1/status failed: " << (g ? std::to_string(g->status) : g.error().message) << "\n";
      return false;
    }
    http_reuse.push_back(ms_between(t0, t1));
    const auto t2 = Clock::now();
    auto fresh = gpumod::infra::http::make_unix_client(sb.socket());
    auto g2 = fresh->get("/v1/status", std::chrono::milliseconds(10000));
    const auto t3 = Clock::now();
    if (!g2 || g2->status != 200) return false;
    http_fresh.push_back(ms_between(t2, t3));
  }
  std::cout << "\n[status] " << total << " services (" << running << " running), " << runs << " runs each\n";
  std::cout << "  gpumod status --json (CLI):       " << describe(stats_of(cli_json)) << "\n";
  std::cout << "  gpumod status (text, CLI):        " << describe(stats_of(cli_text)) << "\n";
  std::cout << "  gpumod --version (process floor): " << describe(stats_of(cli_version)) << "\n";
  std::cout << "  GET /v1/status, kept connection:  " << describe(stats_of(http_reuse)) << "\n";
  std::cout << "  GET /v1/status, new connection:   " << describe(stats_of(http_fresh)) << "\n";
  add_row("status --json, 20 services (CLI)", stats_of(cli_json), 10.0);
  add_row("GET /v1/status, 20 services (in-process)", stats_of(http_reuse), 10.0, "kept connection");
  add_row("gpumod --version (CLI process floor)", stats_of(cli_version), std::nullopt);
  return true;
}

// ---------------------------------------------------------------------------------------------
// 3. Mode switch A <-> B (3 services change each way)

struct Delays {
  int vllm_sleep = 100, vllm_wake = 100, router_load = 150, router_unload = 100, http_start = 100;
};

bool bench_switch(const fs::path& bin, bool keep, int runs) {
  Sandbox sb(bin, keep);
  const Delays d;
  const int router_port = free_port();
  const std::string models = "chat-a=3000,chat-b=3000";
  std::map<std::string, std::string> vllm_env{{"GPUMOD_MOCK_SLEEP_DELAY_MS", std::to_string(d.vllm_sleep)},
                                              {"GPUMOD_MOCK_WAKE_DELAY_MS", std::to_string(d.vllm_wake)}};
  std::map<std::string, std::string> router_env{{"GPUMOD_MOCK_LOAD_DELAY_MS", std::to_string(d.router_load)},
                                                {"GPUMOD_MOCK_UNLOAD_DELAY_MS", std::to_string(d.router_unload)}};
  std::map<std::string, std::string> http_env{{"GPUMOD_MOCK_START_DELAY_MS", std::to_string(d.http_start)}};
  for (const std::string x : {"a", "b"}) {
    sb.add_service({"emb-" + x, "vllm", free_port(), 2000, vllm_env, "", ""});
    sb.add_service({"chat-" + x, "llamacpp", router_port, 3000, router_env, "chat-" + x, models});
    sb.add_service({"app-" + x, "http", free_port(), 500, http_env, "", ""});
    sb.add_mode("mode-" + x, {"emb-" + x, "chat-" + x, "app-" + x});
  }
  // Critical path of a steady-state switch: the outgoing steps run in parallel (vLLM sleep,
  // router unload, http stop), the incoming ones in order (vLLM wake, router load, http start).
  const double configured = std::max(d.vllm_sleep, d.router_unload) + d.vllm_wake + d.router_load + d.http_start;
  const std::map<std::string, double> step_delay = {
      {"sleep emb", d.vllm_sleep}, {"sleep chat", d.router_unload}, {"stop app", 0},
      {"wake emb", d.vllm_wake},   {"wake chat", d.router_load},    {"start app", d.http_start}};
  // Warm-up: cold starts of A, then of B (A goes to sleep); from then on every switch is
  // sleep/unload/stop + wake/load/start.
  RunResult r;
  if (!sb.must({"mode", "switch", "mode-a", "--json"}, &r) || !sb.must({"mode", "switch", "mode-b", "--json"}, &r))
    return false;
  std::vector<double> wall, daemon_ms, wall_over, daemon_over, cli_floor, mock_floor, own_over;
  std::map<std::string, std::vector<double>> step_over;
  std::string last_plan;
  for (int i = 0; i < runs; ++i) {
    const std::string to = i % 2 == 0 ? "mode-a" : "mode-b";
    if (!sb.must({"mode", "switch", to, "--json"}, &r)) return false;
    json j;
    try {
      j = json::parse(r.out);
    } catch (const std::exception& e) {
      std::cerr << "bench: switch output is not JSON: " << e.what() << "\n";
      return false;
    }
    if (!j.value("success", false)) {
      std::cerr << "bench: switch to " << to << " failed: " << j.value("message", "") << "\n";
      return false;
    }
    std::string plan;
    bool changed = false;
    for (const auto& st : j["steps"]) {
      const std::string action = st["action"];
      const std::string svc = st["service"];
      const std::string key = action + " " + svc.substr(0, svc.find('-'));
      plan += (plan.empty() ? "" : ", ") + action + " " + svc;
      if (action != "keep") changed = true;
      if (const auto it = step_delay.find(key); it != step_delay.end()) {
        const double over = st["elapsed_ms"].get<double>() - it->second;
        step_over[key].push_back(over);
      }
    }
    if (!changed) {
      std::cerr << "bench: switch to " << to << " was a no-op (W18); plan: " << plan << "\n";
      return false;
    }
    last_plan = plan;
    wall.push_back(r.wall_ms);
    daemon_ms.push_back(j["elapsed_ms"].get<double>());
    wall_over.push_back(r.wall_ms - configured);
    daemon_over.push_back(j["elapsed_ms"].get<double>() - configured);
    // Side by side, each round: the two process starts inside the wall time that are not
    // gpumod's engine work (the CLI's own, and the incoming http mock's).
    RunResult v;
    if (!sb.must({"--version"}, &v)) return false;
    cli_floor.push_back(v.wall_ms);
    mock_floor.push_back(sb.mock_process_start_ms());
    own_over.push_back(wall_over.back() - cli_floor.back() - mock_floor.back());
  }
  const auto so = stats_of(wall_over);
  std::cout << "\n[switch] " << runs << " switches alternating mode-a <-> mode-b after 2 warm-up switches\n";
  std::cout << "  steps of the last switch: " << last_plan << "\n";
  std::cout << "  mock delays: vLLM sleep " << d.vllm_sleep << " / wake " << d.vllm_wake << " ms, router load "
            << d.router_load << " / unload " << d.router_unload << " ms, http start " << d.http_start
            << " ms; critical path " << fmt_ms(configured) << " ms\n";
  std::cout << "  CLI wall time:               " << describe(stats_of(wall)) << "\n";
  std::cout << "  daemon elapsed_ms:           " << describe(stats_of(daemon_ms)) << "\n";
  std::cout << "  overhead (wall - delays):    " << describe(so) << "\n";
  std::cout << "  overhead (daemon - delays):  " << describe(stats_of(daemon_over)) << "\n";
  std::cout << "  CLI process start (--version): " << describe(stats_of(cli_floor)) << "\n";
  std::cout << "  mock process start (exec):   " << describe(stats_of(mock_floor)) << "\n";
  std::cout << "  overhead less both starts:   " << describe(stats_of(own_over)) << "\n";
  std::cout << "  per step, elapsed_ms - its mock delay:\n";
  for (const auto& [key, v] : step_over) {
    std::cout << "    " << key << std::string(12 - std::min<std::size_t>(12, key.size()), ' ') << describe(stats_of(v)) << "\n";
  }
  add_row("mode switch overhead (3 services, A<->B)", so, 25.0,
          "wall " + fmt_ms(stats_of(wall).median) + " ms - " + fmt_ms(configured) + " ms of mock delays");
  add_row("  less CLI + mock process starts", stats_of(own_over), std::nullopt,
          "CLI " + fmt_ms(stats_of(cli_floor).median) + " ms, mock exec " + fmt_ms(stats_of(mock_floor).median) + " ms");
  for (const auto& [key, v] : step_over) add_row("  step " + key + " (elapsed - delay)", stats_of(v), std::nullopt);
  return true;
}

// ---------------------------------------------------------------------------------------------

void print_summary() {
  std::cout << "\nSUMMARY (medians over the runs; verdict: median < target)\n";
  std::printf("%-46s %10s %10s %10s  %s\n", "benchmark", "median ms", "p90 ms", "target ms", "verdict");
  for (const auto& row : g_summary) {
    const std::string target = row.target_ms ? fmt_ms(*row.target_ms) : "-";
    const std::string verdict = row.target_ms ? (row.stats.median < *row.target_ms ? "PASS" : "MISS") : "info";
    std::printf("%-46s %10s %10s %10s  %s%s\n", row.name.c_str(), fmt_ms(row.stats.median).c_str(),
                fmt_ms(row.stats.p90).c_str(), target.c_str(), verdict.c_str(),
                row.note.empty() ? "" : ("  (" + row.note + ")").c_str());
  }
  for (const auto& row : g_summary) {
    const std::string target = row.target_ms ? fmt_ms(*row.target_ms) : "-";
    const std::string verdict = row.target_ms ? (row.stats.median < *row.target_ms ? "PASS" : "MISS") : "info";
    std::cout << "SUMMARY|runtime: " << row.name << "|" << fmt_ms(row.stats.median) << "|" << fmt_ms(row.stats.p90)
              << "|" << target << "|" << verdict << "\n";
  }
}

int parse_count(const char* v, const char* flag) {
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (!end || *end || n < 1 || n > 10000) {
    std::cerr << flag << ": expected a count from 1 to 10000, got '" << v << "'\n";
    std::exit(2);
  }
  return static_cast<int>(n);
}

}  // namespace

int main(int argc, char** argv) {
  std::error_code ec;
  fs::path bin = fs::read_symlink("/proc/self/exe", ec).parent_path();
  std::set<std::string> only;
  int runs_start = 30, runs_status = 50, runs_switch = 20;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--bin" && has_value) bin = argv[++i];
    else if (a == "--only" && has_value) {
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) only.insert(item);
    } else if (a == "--runs-start" && has_value) runs_start = parse_count(argv[++i], "--runs-start");
    else if (a == "--runs-status" && has_value) runs_status = parse_count(argv[++i], "--runs-status");
    else if (a == "--runs-switch" && has_value) runs_switch = parse_count(argv[++i], "--runs-switch");
    else if (a == "--keep") keep = true;
    else {
      std::cerr << "usage: gpumod-bench-runtime [--bin DIR] [--only start,status,switch] [--runs-start N] "
                   "[--runs-status N] [--runs-switch N] [--keep]\n";
      return 2;
    }
  }
  for (const char* exe : {"gpumod", "gpumod-mock-server"}) {
    if (!fs::exists(bin / exe)) {
      std::cerr << "gpumod-bench-runtime: " << (bin / exe).string() << " not found (--bin DIR)\n";
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  std::cout << "gpumod runtime benchmarks (" << (bin / "gpumod").string() << ")\n";
  print_machine();
  const auto want = [&](const char* name) { return only.empty() || only.contains(name); };
  bool ok = true;
  if (want("start")) ok = bench_start(bin, keep, runs_start) && ok;
  if (want("status")) ok = bench_status(bin, keep, runs_status) && ok;
  if (want("switch")) ok = bench_switch(bin, keep, runs_switch) && ok;
  print_summary();
  return ok ? 0 : 1;
}
