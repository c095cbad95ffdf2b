#include "gpumod/infra/gguf/reader.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <filesystem>
#include <regex>
#include <unordered_set>

#include "gpumod/core/ggml_types.hpp"

namespace gpumod::infra::gguf {
namespace {

constexpr std::uint32_t k_magic = 0x46554747;  // "GGUF" little-endian
constexpr std::size_t k_chunk = 64 * 1024;
constexpr std::uint64_t k_max_name_bytes = 64 * 1024;  // keys and tensor names

std::size_t value_size(ValueType t) {
  switch (t) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
    case ValueType::u16: case ValueType::i16: return 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
    case ValueType::string: return 0;
    case ValueType::array: return 0;
  }
  return 0;
}

bool known_value_type(std::uint32_t t) { return t <= 12; }

// A bounded, chunk-buffered cursor over a ByteSource.
class Cursor {
 public:
  explicit Cursor(ByteSource& src) : m_src(src), m_size(src.size()), m_buf(k_chunk) {}

  std::uint64_t pos() const { return m_pos; }
  std::uint64_t remaining() const { return m_size - m_pos; }

  util::Error corrupt(std::uint64_t at, const std::string& what) const {
    return util::Error{util::ErrorCode::corrupt,
                       "GGUF " + m_src.name() + ": at byte " + std::to_string(at) + ": " + what};
  }

  util::Status need(std::uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      return std::unexpected(corrupt(m_pos, "expected " + std::string(what) + " (" +
                                                std::to_string(n) + " bytes), file ends after " +
                                                std::to_string(remaining())));
    }
    if (m_pos + n > k_max_header_bytes) {
      return std::unexpected(corrupt(m_pos, "header larger than the " +
                                                std::to_string(k_max_header_bytes >> 20) +
                                                " MiB limit while reading " + std::string(what)));
    }
    return {};
  }

  util::Status read(void* dst, std::size_t n, std::string_view what) {
    if (auto ok = need(n, what); !ok) return ok;
    auto* out = static_cast<std::byte*>(dst);
    while (n > 0) {
      if (m_pos < m_buf_start || m_pos >= m_buf_start + m_buf_len) {
        auto got = m_src.read_at(m_pos, m_buf);
        if (!got) return std::unexpected(got.error());
        if (*got == 0) return std::unexpected(corrupt(m_pos, "short read for " + std::string(what)));
        m_buf_start = m_pos;
        m_buf_len = *got;
      }
      const std::size_t off = m_pos - m_buf_start;
      const std::size_t take = std::min<std::size_t>(n, m_buf_len - off);
      std::memcpy(out, m_buf.data() + off, take);
      out += take;
      n -= take;
      m_pos += take;
    }
    return {};
  }

  util::Status skip(std::uint64_t n, std::string_view what) {
    if (auto ok = need(n, what); !ok) return ok;
    m_pos += n;
    return {};
  }

  template <class T>
  util::Result<T> get(std::string_view what) {
    T v{};
    if (auto ok = read(&v, sizeof v, what); !ok) return std::unexpected(ok.error());
    if constexpr (std::endian::native == std::endian::big) {
      // GGUF is little-endian; gpumod targets little-endian hosts only.
      static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
    }
    return v;
  }

 private:
  ByteSource& m_src;
  std::uint64_t m_size;
  std::uint64_t m_pos = 0;
  std::vector<std::byte> m_buf;
  std::uint64_t m_buf_start = 0;
  std::size_t m_buf_len = 0;
};

class Parser {
 public:
  explicit Parser(ByteSource& src) : m_cur(src) {}

  util::Result<GgufFile> run() {
    GgufFile f;
    f.file_bytes = m_cur.remaining();
    auto magic = m_cur.get<std::uint32_t>("magic \"GGUF\"");
    if (!magic) return std::unexpected(magic.error());
    if (*magic != k_magic) return std::unexpected(m_cur.corrupt(0, "expected magic \"GGUF\", not a GGUF file"));
    auto version = m_cur.get<std::uint32_t>("version");
    if (!version) return std::unexpected(version.error());
    if (*version < 1 || *version > 3) {
      return std::unexpected(m_cur.corrupt(4, "expected version 1, 2 or 3, found " + std::to_string(*version)));
    }
    f.version = *version;
    m_v1 = f.version == 1;

    auto n_tensors = count("tensor count");
    if (!n_tensors) return std::unexpected(n_tensors.error());
    auto n_kv = count("metadata count");
    if (!n_kv) return std::unexpected(n_kv.error());
    // Each entry needs at least a length prefix, a type and a byte; each tensor info at least
    // a name length, n_dims, one dim, a type and an offset.
    const std::uint64_t len_size = m_v1 ? 4 : 8;
    if (*n_kv > m_cur.remaining() / (len_size + 5)) {
      return std::unexpected(m_cur.corrupt(m_cur.pos() - len_size, "metadata count " + std::to_string(*n_kv) + " is too large for the file"));
    }
    if (*n_tensors > m_cur.remaining() / (len_size + 4 + len_size + 4 + 8)) {
      return std::unexpected(m_cur.corrupt(m_cur.pos() - 2 * len_size, "tensor count " + std::to_string(*n_tensors) + " is too large for the file"));
    }

    f.metadata.reserve(static_cast<std::size_t>(*n_kv));
    for (std::uint64_t i = 0; i < *n_kv; ++i) {
      auto e = entry();
      if (!e) return std::unexpected(e.error());
      f.metadata.push_back(std::move(*e));
    }

    if (const MetadataEntry* a = f.find("general.alignment")) {
      const auto* v = std::get_if<std::uint64_t>(&a->value);
      if (a->type != ValueType::u32 || v == nullptr || *v == 0 || (*v & (*v - 1)) != 0) {
        return std::unexpected(m_cur.corrupt(m_cur.pos(), "general.alignment must be a u32 power of two"));
      }
      f.alignment = static_cast<std::uint32_t>(*v);
    }

    f.tensors.reserve(static_cast<std::size_t>(*n_tensors));
    std::unordered_set<std::string> names;
    for (std::uint64_t i = 0; i < *n_tensors; ++i) {
      const std::uint64_t at = m_cur.pos();
      auto t = tensor();
      if (!t) return std::unexpected(t.error());
      if (!names.insert(t->name).second) {
        return std::unexpected(m_cur.corrupt(at, "duplicate tensor name '" + t->name + "'"));
      }
      f.tensors.push_back(std::move(*t));
    }
    f.header_bytes = m_cur.pos();
    f.data_offset = (f.header_bytes + f.alignment - 1) / f.alignment * f.alignment;

    for (const auto& t : f.tensors) {
      if (t.offset % f.alignment != 0) {
        return std::unexpected(m_cur.corrupt(f.header_bytes, "tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(f.alignment)));
      }
      const std::uint64_t avail = f.file_bytes > f.data_offset ? f.file_bytes - f.data_offset : 0;
      if (t.offset > avail || t.bytes > avail - t.offset) {
        return std::unexpected(m_cur.corrupt(f.data_offset + std::min(t.offset, avail), "tensor '" + t.name + "' (" + std::to_string(t.bytes) + " bytes at data offset " + std::to_string(t.offset) + ") lies outside the file of " + std::to_string(f.file_bytes) + " bytes"));
      }
    }
    return f;
  }

 private:
  util::Result<std::uint64_t> count(std::string_view what) {
    if (m_v1) {
      auto v = m_cur.get<std::uint32_t>(what);
      if (!v) return std::unexpected(v.error());
      return std::uint64_t{*v};
    }
    return m_cur.get<std::uint64_t>(what);
  }

  util::Result<std::uint64_t> string_length(std::string_view what, std::uint64_t limit) {
    const std::uint64_t at = m_cur.pos();
    auto n = count(what);
    if (!n) return n;
    if (*n > limit) {
      return std::unexpected(m_cur.corrupt(at, std::string(what) + " length " + std::to_string(*n) + " exceeds the limit of " + std::to_string(limit) + " bytes"));
    }
    if (*n > m_cur.remaining()) {
      return std::unexpected(m_cur.corrupt(at, std::string(what) + " length " + std::to_string(*n) + " runs past the end of the file"));
    }
    return n;
  }

  util::Result<std::string> string(std::string_view what, std::uint64_t limit) {
    auto n = string_length(what, limit);
    if (!n) return std::unexpected(n.error());
    std::string s(static_cast<std::size_t>(*n), '\0');
    if (auto ok = m_cur.read(s.data(), s.size(), what); !ok) return std::unexpected(ok.error());
    return s;
  }

  util::Result<ValueType> value_type(std::string_view what) {
    const std::uint64_t at = m_cur.pos();
    auto t = m_cur.get<std::uint32_t>(what);
    if (!t) return std::unexpected(t.error());
    if (!known_value_type(*t)) {
      return std::unexpected(m_cur.corrupt(at, "unknown value type " + std::to_string(*t) + " for " + std::string(what)));
    }
    return static_cast<ValueType>(*t);
  }

  util::Result<MetadataValue> scalar(ValueType t) {
    switch (t) {
      case ValueType::u8: return number<std::uint8_t, std::uint64_t>();
      case ValueType::i8: return number<std::int8_t, std::int64_t>();
      case ValueType::u16: return number<std::uint16_t, std::uint64_t>();
      case ValueType::i16: return number<std::int16_t, std::int64_t>();
      case ValueType::u32: return number<std::uint32_t, std::uint64_t>();
      case ValueType::i32: return number<std::int32_t, std::int64_t>();
      case ValueType::u64: return number<std::uint64_t, std::uint64_t>();
      case ValueType::i64: return number<std::int64_t, std::int64_t>();
      case ValueType::f32: return number<float, double>();
      case ValueType::f64: return number<double, double>();
      case ValueType::boolean: {
        auto v = m_cur.get<std::uint8_t>("bool");
        if (!v) return std::unexpected(v.error());
        return MetadataValue{*v != 0};
      }
      case ValueType::string: {
        auto s = string("string value", k_max_string_bytes);
        if (!s) return std::unexpected(s.error());
        return MetadataValue{std::move(*s)};
      }
      case ValueType::array: break;
    }
    return std::unexpected(m_cur.corrupt(m_cur.pos(), "unexpected value type"));
  }

  template <class Raw, class Stored>
  util::Result<MetadataValue> number() {
    auto v = m_cur.get<Raw>("number");
    if (!v) return std::unexpected(v.error());
    return MetadataValue{static_cast<Stored>(*v)};
  }

  util::Result<ArraySummary> array() {
    ArraySummary a;
    auto et = value_type("array element type");
    if (!et) return std::unexpected(et.error());
    if (*et == ValueType::array) {
      return std::unexpected(m_cur.corrupt(m_cur.pos() - 4, "nested arrays are not supported"));
    }
    a.element_type = *et;
    const std::uint64_t at = m_cur.pos();
    auto n = count("array count");
    if (!n) return std::unexpected(n.error());
    a.count = *n;
    const std::uint64_t min_elem = *et == ValueType::string ? (m_v1 ? 4 : 8) : value_size(*et);
    if (a.count > m_cur.remaining() / min_elem) {
      return std::unexpected(m_cur.corrupt(at, "array count " + std::to_string(a.count) + " of " + std::string(to_string(*et)) + " is too large for the file"));
    }
    if (*et == ValueType::string) {
      for (std::uint64_t i = 0; i < a.count; ++i) {
        auto len = string_length("array string", k_max_string_bytes);
        if (!len) return std::unexpected(len.error());
        if (auto ok = m_cur.skip(*len, "array string"); !ok) return std::unexpected(ok.error());
      }
      return a;
    }
    if (a.count > k_max_kept_array) {
      if (auto ok = m_cur.skip(a.count * min_elem, "array elements"); !ok) return std::unexpected(ok.error());
      return a;
    }
    a.kept = true;
    for (std::uint64_t i = 0; i < a.count; ++i) {
      auto v = scalar(*et);
      if (!v) return std::unexpected(v.error());
      if (const auto* s = std::get_if<std::int64_t>(&*v)) a.ints.push_back(*s);
      else if (const auto* u = std::get_if<std::uint64_t>(&*v)) a.ints.push_back(static_cast<std::int64_t>(*u));
      else if (const auto* b = std::get_if<bool>(&*v)) a.ints.push_back(*b ? 1 : 0);
      else if (const auto* d = std::get_if<double>(&*v)) a.reals.push_back(*d);
    }
    return a;
  }

  util::Result<MetadataEntry> entry() {
    MetadataEntry e;
    auto key = string("metadata key", k_max_name_bytes);
    if (!key) return std::unexpected(key.error());
    e.key = std::move(*key);
    auto t = value_type("value of '" + e.key + "'");
    if (!t) return std::unexpected(t.error());
    e.type = *t;
    if (*t == ValueType::array) {
      auto a = array();
      if (!a) return std::unexpected(util::with_context(a.error(), "key '" + e.key + "'"));
      e.value = std::move(*a);
    } else {
      auto v = scalar(*t);
      if (!v) return std::unexpected(util::with_context(v.error(), "key '" + e.key + "'"));
      e.value = std::move(*v);
    }
    return e;
  }

  util::Result<TensorInfo> tensor() {
    TensorInfo t;
    auto name = string("tensor name", k_max_name_bytes);
    if (!name) return std::unexpected(name.error());
    t.name = std::move(*name);
    const std::uint64_t dims_at = m_cur.pos();
    auto n_dims = m_cur.get<std::uint32_t>("tensor n_dims");
    if (!n_dims) return std::unexpected(n_dims.error());
    if (*n_dims == 0 || *n_dims > 4) {
      return std::unexpected(m_cur.corrupt(dims_at, "tensor '" + t.name + "' has " + std::to_string(*n_dims) + " dims, expected 1 to 4"));
    }
    for (std::uint32_t d = 0; d < *n_dims; ++d) {
      const std::uint64_t at = m_cur.pos();
      auto ne = count("tensor dim");
      if (!ne) return std::unexpected(ne.error());
      if (*ne == 0 || *ne > (std::uint64_t{1} << 62)) {
        return std::unexpected(m_cur.corrupt(at, "tensor '" + t.name + "' dim " + std::to_string(d) + " is " + std::to_string(*ne) + ", expected 1 to 2^62"));
      }
      t.shape.push_back(*ne);
    }
    const std::uint64_t type_at = m_cur.pos();
    auto type = m_cur.get<std::uint32_t>("tensor type");
    if (!type) return std::unexpected(type.error());
    t.type = *type;
    const auto info = core::ggml_type(t.type);
    if (!info) {
      return std::unexpected(m_cur.corrupt(type_at, "tensor '" + t.name + "' has unknown ggml type " + std::to_string(t.type)));
    }
    if (t.shape[0] % info->block_size != 0) {
      return std::unexpected(m_cur.corrupt(dims_at, "tensor '" + t.name + "' ne[0] = " + std::to_string(t.shape[0]) + " is not a multiple of the " + std::string(info->name) + " block size " + std::to_string(info->block_size)));
    }
    const auto bytes = core::tensor_bytes(t.type, t.shape);
    if (!bytes) {
      return std::unexpected(m_cur.corrupt(dims_at, "tensor '" + t.name + "' size overflows"));
    }
    t.bytes = *bytes;
    auto offset = m_cur.get<std::uint64_t>("tensor offset");
    if (!offset) return std::unexpected(offset.error());
    t.offset = *offset;
    return t;
  }

  Cursor m_cur;
  bool m_v1 = false;
};

}  // namespace

std::string_view to_string(ValueType type) {
  static constexpr std::array<std::string_view, 13> k_names{
      "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(type);
  return i < k_names.size() ? k_names[i] : "unknown";
}

const MetadataEntry* GgufFile::find(std::string_view key) const {
  for (const auto& e : metadata) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const auto* e = find(key);
  if (e == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&e->value)) return *s;
  return std::nullopt;
}

std::optional<std::uint64_t> GgufFile::get_uint(std::string_view key) const {
  const auto* e = find(key);
  if (e == nullptr) return std::nullopt;
  if (const auto* u = std::get_if<std::uint64_t>(&e->value)) return *u;
  if (const auto* s = std::get_if<std::int64_t>(&e->value)) {
    if (*s >= 0) return static_cast<std::uint64_t>(*s);
  }
  if (const auto* b = std::get_if<bool>(&e->value)) return *b ? 1 : 0;
  return std::nullopt;
}

std::optional<std::int64_t> GgufFile::get_int(std::string_view key) const {
  const auto* e = find(key);
  if (e == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::int64_t>(&e->value)) return *s;
  if (const auto* u = std::get_if<std::uint64_t>(&e->value)) {
    if (*u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const auto* e = find(key);
  if (e == nullptr) return std::nullopt;
  if (const auto* d = std::get_if<double>(&e->value)) return *d;
  if (const auto* s = std::get_if<std::int64_t>(&e->value)) return static_cast<double>(*s);
  if (const auto* u = std::get_if<std::uint64_t>(&e->value)) return static_cast<double>(*u);
  return std::nullopt;
}

const ArraySummary* GgufFile::get_array(std::string_view key) const {
  const auto* e = find(key);
  return e == nullptr ? nullptr : std::get_if<ArraySummary>(&e->value);
}

std::uint64_t GgufFile::weight_bytes() const {
  std::uint64_t sum = 0;
  for (const auto& t : tensors) sum += t.bytes;
  return sum;
}

util::Result<GgufFile> read_gguf(ByteSource& source) { return Parser(source).run(); }

util::Result<GgufFile> read_gguf_file(const std::string& path) {
  auto src = FileByteSource::open(path);
  if (!src) return std::unexpected(src.error());
  auto f = read_gguf(**src);
  if (f) f->part_paths = {path};
  return f;
}

util::Result<GgufFile> read_gguf_model(const std::string& path) {
  namespace fs = std::filesystem;
  static const std::regex k_split(R"(^(.*)-(\d{5})-of-(\d{5})\.gguf$)");
  const fs::path p(path);
  const std::string file = p.filename().string();
  std::smatch m;
  if (!std::regex_match(file, m, k_split)) return read_gguf_file(path);

  const std::string prefix = m[1].str();
  const int n_parts = std::stoi(m[3].str());
  if (n_parts < 1 || std::stoi(m[2].str()) < 1 || std::stoi(m[2].str()) > n_parts) {
    return util::fail(util::ErrorCode::invalid_argument, "bad split file name " + path);
  }
  std::vector<GgufFile> parts;
  std::vector<std::string> names;
  for (int i = 1; i <= n_parts; ++i) {
    char part_name[32];
    std::snprintf(part_name, sizeof part_name, "-%05d-of-%05d.gguf", i, n_parts);
    names.push_back((p.parent_path() / (prefix + part_name)).string());
    auto part = read_gguf_file(names.back());
    if (!part) {
      return std::unexpected(util::with_context(part.error(), "split part " + std::to_string(i) + " of " + std::to_string(n_parts)));
    }
    parts.push_back(std::move(*part));
  }
  return combine_split_parts(std::move(parts), names);
}

util::Result<GgufFile> combine_split_parts(std::vector<GgufFile> parts, const std::vector<std::string>& names) {
  if (parts.empty() || names.size() != parts.size()) {
    return util::fail(util::ErrorCode::invalid_argument, "combine_split_parts: no parts, or not one name per part");
  }
  const auto n = static_cast<std::uint64_t>(parts.size());
  GgufFile model;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto& part = parts[i];
    const auto count = part.get_uint("split.count");
    const auto no = part.get_uint("split.no");
    if (count && *count != n) {
      return util::fail(util::ErrorCode::corrupt, "GGUF " + names[i] + ": split.count is " + std::to_string(*count) +
                                                      ", but the model has " + std::to_string(n) + " parts");
    }
    if (no && *no != i) {
      return util::fail(util::ErrorCode::corrupt, "GGUF " + names[i] + ": split.no is " + std::to_string(*no) +
                                                      ", expected " + std::to_string(i));
    }
    if (i == 0) {
      model = std::move(part);
      for (auto& t : model.tensors) t.split_index = 0;
      continue;
    }
    for (auto& t : part.tensors) {
      t.split_index = static_cast<std::uint32_t>(i);
      model.tensors.push_back(std::move(t));
    }
    model.file_bytes += part.file_bytes;
  }
  model.part_paths = names;
  model.split_count = static_cast<std::uint32_t>(n);
  return model;
}

}  // namespace gpumod::infra::gguf
