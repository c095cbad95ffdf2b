// gpumod-accuracy: compares the VRAM estimator with measured llama-server runs.
//   gpumod-accuracy [CSV] [--max-error-pct P]
// Reads measurements.csv (see README.md), rebuilds each model (a .gguf path, or "spec:" +
// gpumod-make-model options written as a zero-filled sparse file in a temp dir), estimates with
// the row's settings, and prints per case: measured process memory, our estimate and error, the
// predecessor's rule (file size x 1.1) and its error, the per-buffer differences, then the worst
// case. Exit 1 when a case's error exceeds --max-error-pct (default 5), 2 on bad input.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "gpumod/core/vram_estimator.hpp"
#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/util/strings.hpp"
#include "tools/make_model/model_builder.hpp"

namespace fs = std::filesystem;
using namespace gpumod;

namespace {

struct Row {
  std::map<std::string, std::string> f;
  int line = 0;
  const std::string& at(const std::string& k) const {
    static const std::string empty;
    auto it = f.find(k);
    return it == f.end() ? empty : it->second;
  }
};

double num(const Row& r, const std::string& k) {
  const auto& v = r.at(k);
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') {
    std::cerr << "gpumod-accuracy: line " << r.line << ": column " << k << " '" << v << "' is not a number\n";
    std::exit(2);
  }
  return d;
}

std::string pct(double ours, double measured) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", 100.0 * (ours - measured) / measured);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv = std::string(GPUMOD_ACCURACY_DIR) + "/measurements.csv";
  double max_error_pct = 5.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--max-error-pct" && i + 1 < argc) max_error_pct = std::atof(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::cout << "usage: gpumod-accuracy [CSV] [--max-error-pct P]\n";
      return 0;
    } else csv = a;
  }
  std::ifstream in(csv);
  if (!in) {
    std::cerr << "gpumod-accuracy: cannot read " << csv << "\n";
    return 2;
  }
  std::string tmpl = (fs::temp_directory_path() / "gpumod-accuracy-XXXXXX").string();
  const std::string tmp = ::mkdtemp(tmpl.data());

  std::vector<std::string> header, devices;
  std::vector<Row> rows;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '#') {
      const auto t = std::string(util::trim(line.substr(1)));
      if (util::starts_with(t, "device:")) devices.push_back(std::string(util::trim(t.substr(7))));
      continue;
    }
    auto cells = util::split(line, ',');
    if (header.empty()) {
      header = cells;
      continue;
    }
    if (cells.size() != header.size()) {
      std::cerr << "gpumod-accuracy: line " << n << ": " << cells.size() << " cells, header has " << header.size() << "\n";
      return 2;
    }
    Row r;
    r.line = n;
    for (std::size_t i = 0; i < cells.size(); ++i) r.f[header[i]] = std::string(util::trim(cells[i]));
    rows.push_back(std::move(r));
  }

  std::cout << "Estimator accuracy against measured llama-server runs (" << csv << ")\n";
  for (const auto& d : devices) std::cout << "Machine: " << d << "\n";
  std::cout << "\n";
  std::printf("%-4s %-8s %7s %-9s %-4s %5s %3s %2s %3s | %9s | %9s %7s | %9s %7s | %8s %8s %8s\n", "#", "arch", "ctx",
              "ctk/ctv", "fa", "ngl", "cmo", "np", "swf", "at load", "estimate", "error", "file*1.1", "error", "d_model",
              "d_kv", "d_comp");
  std::printf("%-4s %-52s | %9s | %9s %7s %8s\n", "", "", "+prompt", "estimate", "error", "MiB");
  double worst = 0, worst_old = 0;
  int worst_row = -1, idx = 0, failures = 0, prompt_cases = 0, prompt_misses = 0;
  double worst_prompt_mib = 0;
  std::map<std::string, core::ModelShape> shapes;
  for (const auto& r : rows) {
    ++idx;
    const std::string& model = r.at("model");
    if (!shapes.contains(model)) {
      std::string path;
      if (util::starts_with(model, "spec:")) {
        auto spec = tools::parse_spec_items(model.substr(5));
        if (!spec) {
          std::cerr << "gpumod-accuracy: line " << r.line << ": " << spec.error().message << "\n";
          return 2;
        }
        path = tmp + "/model-" + std::to_string(idx) + ".gguf";
        if (auto st = tools::write_model(path, *spec, {}); !st) {
          std::cerr << "gpumod-accuracy: line " << r.line << ": " << st.error().message << "\n";
          return 2;
        }
      } else {
        path = fs::path(model).is_absolute() ? model : (fs::path(csv).parent_path() / model).string();
      }
      auto f = infra::gguf::read_gguf_model(path);
      if (!f) {
        std::cerr << "gpumod-accuracy: line " << r.line << ": " << f.error().message << "\n";
        return 2;
      }
      auto s = infra::gguf::model_shape_from_gguf(*f);
      if (!s) {
        std::cerr << "gpumod-accuracy: line " << r.line << ": " << s.error().message << "\n";
        return 2;
      }
      shapes[model] = *s;
      if (util::starts_with(model, "spec:")) fs::remove(path);
    }
    core::EstimateOptions o;
    o.context_size = static_cast<std::uint32_t>(num(r, "ctx"));
    auto ctk = core::parse_kv_cache_type(r.at("ctk"));
    auto ctv = core::parse_kv_cache_type(r.at("ctv"));
    if (!ctk || !ctv) {
      std::cerr << "gpumod-accuracy: line " << r.line << ": bad cache type\n";
      return 2;
    }
    o.cache_type_k = *ctk;
    o.cache_type_v = *ctv;
    o.flash_attn = r.at("fa") != "off";
    o.n_gpu_layers = (r.at("ngl") == "all" || r.at("ngl").empty()) ? -1 : static_cast<int>(num(r, "ngl"));
    o.n_cpu_moe = static_cast<std::uint32_t>(num(r, "n_cpu_moe"));
    o.n_parallel = static_cast<std::uint32_t>(num(r, "parallel"));
    o.swa_full = r.at("swa_full") == "1";
    o.kv_unified = r.at("kv_unified") != "0";  // llama-server: unified unless -np is given
    const auto e = core::estimate_vram(shapes[model], o);
    const double measured = num(r, "nvidia_smi_process_mib");
    const double at_load = e.gpu.total_at_load_mib;
    const double old_rule = std::ceil(num(r, "file_mib") * 1.1);
    const double err = 100.0 * (at_load - measured) / measured;
    const double err_old = 100.0 * (old_rule - measured) / measured;
    std::printf("%-4d %-8.8s %7s %-9s %-4s %5s %3s %2s %3s | %9.1f | %9.1f %7s | %9.0f %7s | %+8.1f %+8.1f %+8.1f\n", idx,
                r.at("arch").c_str(), r.at("ctx").c_str(), (r.at("ctk") + "/" + r.at("ctv")).c_str(), r.at("fa").c_str(),
                r.at("ngl").c_str(), r.at("n_cpu_moe").c_str(), r.at("parallel").c_str(), r.at("swa_full").c_str(), measured, at_load, pct(at_load, measured).c_str(), old_rule,
                pct(old_rule, measured).c_str(), e.gpu.weights_mib - num(r, "server_model_mib"),
                e.gpu.kv_mib - num(r, "server_kv_mib"), e.gpu.compute_mib - num(r, "server_compute_mib"));
    // After a long prompt: what admission must plan for (issue 18: within 3 % or 128 MiB, never
    // low by more than 64 MiB).
    if (!r.at("nvidia_smi_after_prompt_mib").empty()) {
      const double after = num(r, "nvidia_smi_after_prompt_mib");
      const double d = e.gpu.total_mib - after;
      const bool ok = (std::fabs(d) <= 128.0 || std::fabs(d) <= 0.03 * after) && d >= -64.0;
      std::printf("%-4s %-52s | %9.1f | %9.1f %7s %+8.1f%s\n", "", "", after, e.gpu.total_mib,
                  pct(e.gpu.total_mib, after).c_str(), d, ok ? "" : "  MISS");
      ++prompt_cases;
      if (!ok) ++prompt_misses;
      if (std::fabs(d) > std::fabs(worst_prompt_mib)) worst_prompt_mib = d;
    }
    if (std::fabs(err) > std::fabs(worst) || worst_row < 0) {
      worst = err;
      worst_row = idx;
    }
    if (std::fabs(err_old) > std::fabs(worst_old)) worst_old = err_old;
    if (std::fabs(err) > max_error_pct) ++failures;
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (rows.empty()) {
    std::cout << "no rows\n";
    return 2;
  }
  std::printf("\nWorst case: #%d, estimate %+.1f%% (predecessor's rule: worst %+.1f%%); %zu cases, %d over %.1f%%\n",
              worst_row, worst, worst_old, rows.size(), failures, max_error_pct);
  std::printf("After a long prompt: %d cases, %d outside 3 %% / 128 MiB or low by more than 64 MiB; worst %+.1f MiB\n",
              prompt_cases, prompt_misses, worst_prompt_mib);
  std::printf("d_model/d_kv/d_comp: our weights, KV and compute buffer minus the server's own buffer lines (MiB).\n");
  return failures > 0 || prompt_misses > 0 ? 1 : 0;
}
