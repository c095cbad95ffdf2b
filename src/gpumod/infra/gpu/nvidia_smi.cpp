#include "gpumod/infra/gpu/nvidia_smi.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <set>

#include "gpumod/util/strings.hpp"
#include "gpumod/util/subprocess.hpp"

namespace gpumod::infra::gpu {

namespace {

using util::ErrorCode;

constexpr std::int64_t k_max_mib = std::int64_t{1} << 40;
constexpr std::string_view k_query_gpu =
    "--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,driver_version";
constexpr std::string_view k_query_apps =
    "--query-compute-apps=gpu_uuid,pid,used_memory,process_name";
constexpr std::string_view k_format = "--format=csv,noheader,nounits";

struct Field {
  std::string text;  // unquoted fields: as written (untrimmed); quoted: the content
  bool quoted = false;
};

// One CSV line into fields. Quoted fields ("a, b", "" for a quote) keep their commas.
util::Result<std::vector<Field>> split_csv_line(std::string_view line, std::string_view where) {
  std::vector<Field> fields;
  std::size_t i = 0;
  while (true) {
    Field f;
    // Leading spaces, then maybe a quoted field.
    std::size_t j = i;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j < line.size() && line[j] == '"') {
      f.quoted = true;
      ++j;
      bool closed = false;
      while (j < line.size()) {
        if (line[j] == '"') {
          if (j + 1 < line.size() && line[j + 1] == '"') {
            f.text += '"';
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        f.text += line[j++];
      }
      if (!closed) {
        return util::fail(ErrorCode::corrupt, std::string(where) + ": unterminated quoted field");
      }
      while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
      if (j < line.size() && line[j] != ',') {
        return util::fail(ErrorCode::corrupt,
                          std::string(where) + ": text after a quoted field");
      }
      i = j;
    } else {
      const auto comma = line.find(',', i);
      const auto end = comma == std::string_view::npos ? line.size() : comma;
      f.text = std::string(line.substr(i, end - i));
      i = end;
    }
    fields.push_back(std::move(f));
    if (i >= line.size()) break;
    ++i;  // past the comma
  }
  return fields;
}

std::string value_of(const Field& f) {
  return f.quoted ? f.text : std::string(util::trim(f.text));
}

// Fields [first, last) glued back with their commas (an unquoted name that held commas).
std::string joined(const std::vector<Field>& fields, std::size_t first, std::size_t last) {
  if (last - first == 1) return value_of(fields[first]);
  std::string out;
  for (std::size_t k = first; k < last; ++k) {
    if (k > first) out += ',';
    out += fields[k].quoted ? "\"" + fields[k].text + "\"" : fields[k].text;
  }
  return std::string(util::trim(out));
}

bool is_unknown(std::string_view v) {
  return v.empty() || v == "N/A" || (v.size() >= 2 && v.front() == '[' && v.back() == ']');
}

// A MiB value; nullopt for "N/A" / "[...]".
util::Result<std::optional<std::int64_t>> mib_of(std::string_view v, std::string_view what,
                                                 std::string_view where) {
  if (is_unknown(v)) return std::optional<std::int64_t>{};
  auto n = util::parse_int(v, 0, k_max_mib, what);
  if (!n) return util::fail(ErrorCode::corrupt, std::string(where) + ": " + n.error().message);
  return std::optional<std::int64_t>{*n};
}

std::string line_label(std::string_view query, std::size_t line_no) {
  return "nvidia-smi " + std::string(query) + " output line " + std::to_string(line_no);
}

bool is_blank(std::string_view line) { return util::trim(line).empty(); }

// Calls `fn(line, line_no)` for each non-blank line (CR stripped).
template <class Fn>
util::Status for_each_line(std::string_view csv, Fn&& fn) {
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start <= csv.size()) {
    auto nl = csv.find('\n', start);
    if (nl == std::string_view::npos) nl = csv.size();
    auto line = csv.substr(start, nl - start);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!is_blank(line)) {
      if (auto st = fn(line, line_no); !st) return st;
    }
    if (nl == csv.size()) break;
    start = nl + 1;
  }
  return {};
}

struct QueryGpuOutput {
  std::vector<core::GpuDevice> devices;
  std::string driver_version;
};

util::Result<QueryGpuOutput> parse_query_gpu(std::string_view csv) {
  QueryGpuOutput out;
  std::set<std::string> uuids;
  std::set<std::int64_t> indices;
  auto st = for_each_line(csv, [&](std::string_view line, std::size_t line_no) -> util::Status {
    const auto where = line_label("--query-gpu", line_no);
    auto fields = split_csv_line(line, where);
    if (!fields) return std::unexpected(fields.error());
    const auto& f = *fields;
    if (f.size() < 7) {
      return util::fail(ErrorCode::corrupt,
                        where + ": expected 7 fields (index, uuid, name, memory.total, "
                                "memory.used, memory.free, driver_version), got " +
                            std::to_string(f.size()) + ": '" + std::string(line) + "'");
    }
    const std::size_t n = f.size();
    core::GpuDevice d;
    auto index = util::parse_int(value_of(f[0]), 0, 1 << 20, "index");
    if (!index) return util::fail(ErrorCode::corrupt, where + ": " + index.error().message);
    d.index = static_cast<int>(*index);
    d.uuid = value_of(f[1]);
    if (is_unknown(d.uuid)) return util::fail(ErrorCode::corrupt, where + ": no GPU uuid");
    d.name = joined(f, 2, n - 4);
    auto total = mib_of(value_of(f[n - 4]), "memory.total", where);
    if (!total) return std::unexpected(total.error());
    auto used = mib_of(value_of(f[n - 3]), "memory.used", where);
    if (!used) return std::unexpected(used.error());
    auto free = mib_of(value_of(f[n - 2]), "memory.free", where);
    if (!free) return std::unexpected(free.error());
    d.total_mib = total->value_or(0);
    if (free->has_value()) {
      d.free_mib = std::min(**free, d.total_mib);
      d.used_mib = d.total_mib - d.free_mib;  // reserved memory counts as used (probe.hpp)
    } else {
      d.used_mib = used->value_or(0);
      d.free_mib = std::max<std::int64_t>(0, d.total_mib - d.used_mib);
    }
    if (!uuids.insert(d.uuid).second) {
      return util::fail(ErrorCode::corrupt, where + ": GPU uuid " + d.uuid + " listed twice");
    }
    if (!indices.insert(d.index).second) {
      return util::fail(ErrorCode::corrupt,
                        where + ": GPU index " + std::to_string(d.index) + " listed twice");
    }
    if (out.devices.empty()) {
      const auto v = value_of(f[n - 1]);
      out.driver_version = is_unknown(v) ? "" : v;
    }
    out.devices.push_back(std::move(d));
    return {};
  });
  if (!st) return std::unexpected(st.error());
  return out;
}

// Where the deadline stands: what is left of it, at least zero.
std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

std::string first_line(std::string_view text) {
  text = util::trim(text);
  const auto nl = text.find('\n');
  return std::string(util::trim(text.substr(0, nl)));
}

class NvidiaSmiProbe final : public GpuProbe {
 public:
  explicit NvidiaSmiProbe(std::string program) : m_program(std::move(program)) {}

  util::Result<core::GpuSnapshot> snapshot(std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    auto gpu_out = run(k_query_gpu, remaining(until));
    if (!gpu_out) return std::unexpected(gpu_out.error());
    auto parsed = parse_query_gpu(*gpu_out);
    if (!parsed) return std::unexpected(parsed.error());
    if (parsed->devices.empty()) {
      return util::fail(ErrorCode::unavailable, m_program + " lists no GPU");
    }
    auto apps_out = run(k_query_apps, remaining(until));
    if (!apps_out) return std::unexpected(apps_out.error());
    auto apps = parse_compute_apps_csv(*apps_out);
    if (!apps) return std::unexpected(apps.error());

    core::GpuSnapshot snap;
    snap.source = core::GpuSource::nvidia_smi;
    snap.driver_version = std::move(parsed->driver_version);
    snap.devices = std::move(parsed->devices);
    for (auto& [uuid, proc] : *apps) {
      const auto it = std::ranges::find_if(
          snap.devices, [&](const core::GpuDevice& d) { return d.uuid == uuid; });
      if (it != snap.devices.end()) it->processes.push_back(std::move(proc));
    }
    return snap;
  }

  std::string_view name() const override { return "nvidia-smi"; }

 private:
  util::Result<std::string> run(std::string_view query, std::chrono::milliseconds left) {
    const std::string what = m_program + " " + std::string(query.substr(0, query.find('=')));
    if (left.count() <= 0) {
      return util::fail(ErrorCode::timeout, what + ": the deadline passed before it could run");
    }
    util::CaptureOptions opts;
    opts.deadline = left;
    opts.max_output_bytes = 1024 * 1024;
    auto r = util::run_capture({m_program, std::string(query), std::string(k_format)}, opts);
    if (!r) {
      const auto code = r.error().code;
      if (code == ErrorCode::timeout) {
        return util::fail(ErrorCode::timeout, what + " did not answer within " +
                                                  std::to_string(left.count()) + " ms");
      }
      if (code == ErrorCode::not_found) {
        return util::fail(ErrorCode::unavailable, what + ": " + r.error().message);
      }
      return std::unexpected(util::with_context(r.error(), what));
    }
    if (r->exit_code != 0) {
      auto msg = first_line(r->err);
      if (msg.empty()) msg = first_line(r->out);
      return util::fail(ErrorCode::unavailable, what + " exited with status " +
                                                    std::to_string(r->exit_code) +
                                                    (msg.empty() ? "" : ": " + msg));
    }
    return std::move(r->out);
  }

  std::string m_program;
};

}  // namespace

util::Result<std::vector<core::GpuDevice>> parse_query_gpu_csv(std::string_view csv) {
  auto r = parse_query_gpu(csv);
  if (!r) return std::unexpected(r.error());
  return std::move(r->devices);
}

util::Result<std::string> parse_driver_version_csv(std::string_view csv) {
  auto r = parse_query_gpu(csv);
  if (!r) return std::unexpected(r.error());
  return std::move(r->driver_version);
}

util::Result<std::vector<std::pair<std::string, core::GpuProcess>>> parse_compute_apps_csv(
    std::string_view csv) {
  std::vector<std::pair<std::string, core::GpuProcess>> out;
  auto st = for_each_line(csv, [&](std::string_view line, std::size_t line_no) -> util::Status {
    // Some versions print this instead of nothing.
    if (util::to_lower(util::trim(line)).starts_with("no running")) return {};
    const auto where = line_label("--query-compute-apps", line_no);
    auto fields = split_csv_line(line, where);
    if (!fields) return std::unexpected(fields.error());
    const auto& f = *fields;
    if (f.size() < 4) {
      return util::fail(ErrorCode::corrupt,
                        where + ": expected 4 fields (gpu_uuid, pid, used_memory, "
                                "process_name), got " +
                            std::to_string(f.size()) + ": '" + std::string(line) + "'");
    }
    const auto uuid = value_of(f[0]);
    if (is_unknown(uuid)) return util::fail(ErrorCode::corrupt, where + ": no GPU uuid");
    core::GpuProcess p;
    auto pid = util::parse_int(value_of(f[1]), 1, INT_MAX, "pid");
    if (!pid) return util::fail(ErrorCode::corrupt, where + ": " + pid.error().message);
    p.pid = static_cast<int>(*pid);
    auto mib = mib_of(value_of(f[2]), "used_memory", where);
    if (!mib) return std::unexpected(mib.error());
    p.used_mib = mib->value_or(0);
    p.name = joined(f, 3, f.size());
    if (is_unknown(p.name)) p.name.clear();
    out.emplace_back(uuid, std::move(p));
    return {};
  });
  if (!st) return std::unexpected(st.error());
  return out;
}

std::unique_ptr<GpuProbe> make_nvidia_smi_probe(std::string program) {
  return std::make_unique<NvidiaSmiProbe>(std::move(program));
}

}  // namespace gpumod::infra::gpu
