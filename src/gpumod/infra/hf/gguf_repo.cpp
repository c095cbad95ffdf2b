#include "gpumod/infra/hf/gguf_repo.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>

#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/hf/http_byte_source.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::infra::hf {

namespace {

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && util::to_lower(s.substr(s.size() - suffix.size())) == suffix;
}

}  // namespace

GgufListing list_gguf_files(const std::vector<RepoFile>& files) {
  static const std::regex k_split(R"(^(.*)-(\d{5})-of-(\d{5})\.gguf$)", std::regex::icase);
  GgufListing out;
  struct Group {
    std::vector<std::pair<int, RepoFile>> parts;
    int count = 1;
  };
  std::map<std::string, Group> groups;  // key: path without the -0000k-of-0000n suffix
  for (const auto& f : files) {
    const std::string lower = util::to_lower(base_name(f.path));
    if (lower.find("imatrix") != std::string::npos && (ends_with_ci(lower, ".gguf") || ends_with_ci(lower, ".dat"))) {
      out.imatrix.push_back(f);
      continue;
    }
    if (!ends_with_ci(lower, ".gguf")) continue;
    if (lower.find("mmproj") != std::string::npos) {
      out.mmproj.push_back(f);
      continue;
    }
    std::smatch m;
    if (std::regex_match(f.path, m, k_split)) {
      auto& g = groups[m[1].str() + "#split" + m[3].str()];
      g.count = std::max(1, std::stoi(m[3].str()));
      g.parts.emplace_back(std::stoi(m[2].str()), f);
    } else {
      groups[f.path].parts.emplace_back(1, f);
    }
  }
  for (auto& [key, g] : groups) {
    std::ranges::sort(g.parts, {}, &std::pair<int, RepoFile>::first);
    GgufQuant q;
    for (auto& [no, f] : g.parts) {
      q.total_bytes += f.size;
      q.parts.push_back(f);
    }
    q.name = q.parts.front().path;
    q.label = gguf::filename_quant_label(base_name(q.name));
    if (q.label.empty()) {
      // unsloth keeps big quants in a folder named after the quant ("BF16/x-00001-of-00002.gguf").
      const auto slash = q.name.rfind('/');
      if (slash != std::string::npos) q.label = gguf::filename_quant_label(q.name.substr(0, slash) + ".gguf");
    }
    const int have = static_cast<int>(g.parts.size());
    q.missing_parts = g.count > have ? static_cast<std::uint32_t>(g.count - have) : 0;
    out.quants.push_back(std::move(q));
  }
  std::ranges::stable_sort(out.quants, [](const GgufQuant& a, const GgufQuant& b) {
    return a.total_bytes != b.total_bytes ? a.total_bytes < b.total_bytes : a.name < b.name;
  });
  return out;
}

int quant_quality_rank(std::string_view label_in) {
  std::string label = upper(label_in);
  int bonus = 0;
  if (label.starts_with("UD-")) {
    label = label.substr(3);
    bonus = 1;
  }
  static const std::map<std::string, int, std::less<>> k_rank{
      {"F32", 100}, {"BF16", 96}, {"F16", 96}, {"Q8_K_XL", 92}, {"Q8_0", 90}, {"Q6_K_XL", 84},
      {"Q6_K", 82}, {"Q5_K_XL", 76}, {"Q5_K_M", 74}, {"Q5_K_L", 74}, {"Q5_K_S", 72}, {"Q5_1", 71},
      {"Q5_0", 70}, {"Q4_K_XL", 66}, {"Q4_K_L", 65}, {"Q4_K_M", 64}, {"Q4_1", 62}, {"MXFP4", 61},
      {"IQ4_NL", 60}, {"Q4_K_S", 59}, {"IQ4_XS", 58}, {"Q4_0", 57}, {"Q3_K_XL", 52}, {"Q3_K_L", 50},
      {"Q3_K_M", 48}, {"IQ3_M", 47}, {"IQ3_S", 46}, {"Q3_K_S", 45}, {"IQ3_XS", 44}, {"IQ3_XXS", 43},
      {"Q2_K_XL", 38}, {"Q2_K_L", 37}, {"Q2_K", 36}, {"IQ2_M", 35}, {"IQ2_S", 34}, {"IQ2_XS", 33},
      {"IQ2_XXS", 32}, {"Q2_K_S", 31}, {"IQ1_M", 22}, {"IQ1_S", 20}};
  const auto it = k_rank.find(label);
  return it == k_rank.end() ? 0 : it->second * 2 + bonus;
}

const GgufQuant* find_quant(const GgufListing& listing, std::string_view quant_or_file) {
  const std::string want = upper(quant_or_file);
  for (const auto& q : listing.quants) {
    if (q.name == quant_or_file || base_name(q.name) == quant_or_file) return &q;
  }
  for (const auto& q : listing.quants) {
    if (!q.label.empty() && q.label == want) return &q;
  }
  return nullptr;
}

util::Result<RemoteGguf> read_remote_gguf(HubClient& hub, std::string_view repo, std::string_view commit,
                                          const GgufQuant& quant) {
  if (quant.missing_parts > 0) {
    return util::fail(util::ErrorCode::corrupt, std::string(repo) + ": " + quant.name + " lacks " +
                                                    std::to_string(quant.missing_parts) + " of its split parts");
  }
  RemoteGguf out;
  std::vector<gguf::GgufFile> parts;
  std::vector<std::string> names;
  for (const auto& f : quant.parts) {
    names.push_back(std::string(repo) + "/" + f.path);
    HttpByteSource src(hub, std::string(repo), std::string(commit), f.path, f.size);
    auto g = gguf::read_gguf(src);
    out.bytes_fetched += src.bytes_fetched();
    if (!g) return std::unexpected(util::with_context(g.error(), names.back()));
    parts.push_back(std::move(*g));
    out.file_bytes += f.size;
  }
  auto model = gguf::combine_split_parts(std::move(parts), names);
  if (!model) return std::unexpected(model.error());
  out.file = std::move(*model);
  return out;
}

}  // namespace gpumod::infra::hf
