#include "gpumod/infra/gguf/writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "gpumod/core/ggml_types.hpp"

namespace gpumod::infra::gguf {
namespace {

using util::ErrorCode;

class Out {
 public:
  void u8(std::uint8_t v) { m_buf.push_back(v); }
  template <class T>
  void raw(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    m_buf.insert(m_buf.end(), p, p + sizeof v);
  }
  void str(const std::string& s) {
    raw<std::uint64_t>(s.size());
    m_buf.insert(m_buf.end(), s.begin(), s.end());
  }
  std::vector<std::uint8_t>& buf() { return m_buf; }

 private:
  std::vector<std::uint8_t> m_buf;
};

bool is_int_type(ValueType t) {
  switch (t) {
    case ValueType::u8: case ValueType::i8: case ValueType::u16: case ValueType::i16:
    case ValueType::u32: case ValueType::i32: case ValueType::u64: case ValueType::i64:
    case ValueType::boolean:
      return true;
    default:
      return false;
  }
}

void put_int(Out& o, ValueType t, std::int64_t v) {
  switch (t) {
    case ValueType::u8: o.raw(static_cast<std::uint8_t>(v)); break;
    case ValueType::i8: o.raw(static_cast<std::int8_t>(v)); break;
    case ValueType::u16: o.raw(static_cast<std::uint16_t>(v)); break;
    case ValueType::i16: o.raw(static_cast<std::int16_t>(v)); break;
    case ValueType::u32: o.raw(static_cast<std::uint32_t>(v)); break;
    case ValueType::i32: o.raw(static_cast<std::int32_t>(v)); break;
    case ValueType::u64: o.raw(static_cast<std::uint64_t>(v)); break;
    case ValueType::i64: o.raw(v); break;
    case ValueType::boolean: o.u8(v != 0 ? 1 : 0); break;
    default: break;
  }
}

util::Status put_value(Out& o, const MetadataEntry& e) {
  const auto bad = [&](const char* why) {
    return util::fail(ErrorCode::invalid_argument, "metadata '" + e.key + "': " + why);
  };
  if (e.type == ValueType::array) {
    const auto* a = std::get_if<ArraySummary>(&e.value);
    if (a == nullptr) return bad("array type without an array value");
    o.raw(static_cast<std::uint32_t>(a->element_type));
    if (a->element_type == ValueType::string) {
      o.raw<std::uint64_t>(a->strings.size());
      for (const auto& s : a->strings) o.str(s);
    } else if (is_int_type(a->element_type)) {
      o.raw<std::uint64_t>(a->ints.size());
      for (auto v : a->ints) put_int(o, a->element_type, v);
    } else if (a->element_type == ValueType::f32 || a->element_type == ValueType::f64) {
      o.raw<std::uint64_t>(a->reals.size());
      for (auto v : a->reals) {
        if (a->element_type == ValueType::f32) o.raw(static_cast<float>(v)); else o.raw(v);
      }
    } else {
      return bad("unsupported array element type");
    }
    return {};
  }
  if (e.type == ValueType::string) {
    const auto* s = std::get_if<std::string>(&e.value);
    if (s == nullptr) return bad("string type without a string value");
    o.str(*s);
    return {};
  }
  if (e.type == ValueType::f32 || e.type == ValueType::f64) {
    const auto* d = std::get_if<double>(&e.value);
    if (d == nullptr) return bad("float type without a float value");
    if (e.type == ValueType::f32) o.raw(static_cast<float>(*d)); else o.raw(*d);
    return {};
  }
  if (!is_int_type(e.type)) return bad("unknown value type");
  std::int64_t v = 0;
  if (const auto* s = std::get_if<std::int64_t>(&e.value)) v = *s;
  else if (const auto* u = std::get_if<std::uint64_t>(&e.value)) v = static_cast<std::int64_t>(*u);
  else if (const auto* b = std::get_if<bool>(&e.value)) v = *b ? 1 : 0;
  else return bad("integer type without an integer value");
  put_int(o, e.type, v);
  return {};
}

// splitmix64: small, fast, deterministic.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  float small() {  // uniform in [-0.02, 0.02)
    return (static_cast<float>(next() >> 40) / static_cast<float>(1ULL << 24) - 0.5f) * 0.04f;
  }
};

std::uint16_t to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000;
  const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  const std::uint32_t mant = (x >> 13) & 0x3ff;
  if (exp <= 0) return static_cast<std::uint16_t>(sign);  // tiny values flush to zero
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7bff);
  return static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(exp) << 10) | mant);
}

// Byte offsets of the f16 scale fields within one block, per quantized type (ggml-common.h).
std::vector<std::uint32_t> scale_offsets(std::uint32_t type) {
  switch (type) {
    case 2: case 6: case 8: case 20: case 23: case 16: case 17: case 18: case 19: case 21: case 22:
      return {0};                 // q4_0 q5_0 q8_0 iq4_nl iq4_xs iq2_* iq3_* iq1_s: d first
    case 3: case 7: case 9: case 12: case 13:
      return {0, 2};              // q4_1 q5_1 q8_1 q4_K q5_K: d, m/dmin first
    case 10: return {80, 82};     // q2_K: d, dmin at the end
    case 11: return {108};        // q3_K
    case 14: return {208};        // q6_K
    case 34: return {52};         // tq1_0
    case 35: return {64};         // tq2_0
    default: return {};
  }
}

void fill_random(std::vector<std::uint8_t>& buf, const TensorSpec& t, std::uint64_t n_blocks,
                 const core::GgmlTypeInfo& info, Rng& rng) {
  const bool norm = t.name.find("norm") != std::string::npos;
  const std::size_t n = buf.size();
  if (t.type == core::ggml_id::f32) {
    for (std::size_t i = 0; i + 4 <= n; i += 4) {
      const float v = norm ? 1.0f : rng.small();
      std::memcpy(&buf[i], &v, 4);
    }
    return;
  }
  if (t.type == core::ggml_id::f16 || t.type == core::ggml_id::bf16) {
    for (std::size_t i = 0; i + 2 <= n; i += 2) {
      const float v = norm ? 1.0f : rng.small();
      const std::uint16_t h = t.type == core::ggml_id::f16
                                  ? to_f16(v)
                                  : static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(v) >> 16);
      std::memcpy(&buf[i], &h, 2);
    }
    return;
  }
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t r = rng.next();
    std::memcpy(&buf[i], &r, std::min<std::size_t>(8, n - i));
  }
  const auto offsets = scale_offsets(t.type);
  const std::uint16_t scale = to_f16(0.001f);
  for (std::uint64_t b = 0; b < n_blocks; ++b) {
    for (auto off : offsets) std::memcpy(&buf[b * info.type_size + off], &scale, 2);
    if (t.type == core::ggml_id::mxfp4) buf[b * info.type_size] = 120;  // E8M0 scale 2^-7
  }
}

util::Status write_all(int fd, const std::uint8_t* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return util::fail(ErrorCode::io, "writing " + path + ": " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

}  // namespace

util::Status write_gguf(const std::string& path, std::span<const MetadataEntry> metadata,
                        std::span<const TensorSpec> tensors, const WriteOptions& options) {
  if (options.version != 2 && options.version != 3) {
    return util::fail(ErrorCode::invalid_argument, "GGUF writer supports versions 2 and 3, not " + std::to_string(options.version));
  }
  const std::uint64_t align = options.alignment;
  if (align == 0 || (align & (align - 1)) != 0) {
    return util::fail(ErrorCode::invalid_argument, "alignment " + std::to_string(align) + " is not a power of two");
  }
  std::vector<MetadataEntry> meta(metadata.begin(), metadata.end());
  bool has_align = false;
  for (const auto& e : meta) has_align = has_align || e.key == "general.alignment";
  if (!has_align && align != k_default_alignment) meta.push_back(meta_u32("general.alignment", options.alignment));

  Out o;
  o.raw<std::uint32_t>(0x46554747);
  o.raw<std::uint32_t>(options.version);
  o.raw<std::uint64_t>(tensors.size());
  o.raw<std::uint64_t>(meta.size());
  for (const auto& e : meta) {
    o.str(e.key);
    o.raw(static_cast<std::uint32_t>(e.type));
    if (auto ok = put_value(o, e); !ok) return ok;
  }
  std::vector<std::uint64_t> sizes;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const auto bytes = core::tensor_bytes(t.type, t.shape);
    if (!bytes) {
      return util::fail(ErrorCode::invalid_argument, "tensor '" + t.name + "': unknown type " + std::to_string(t.type) + " or a shape that does not fit it");
    }
    o.str(t.name);
    o.raw<std::uint32_t>(static_cast<std::uint32_t>(t.shape.size()));
    for (auto d : t.shape) o.raw<std::uint64_t>(d);
    o.raw<std::uint32_t>(t.type);
    o.raw<std::uint64_t>(offset);
    sizes.push_back(*bytes);
    offset += (*bytes + align - 1) / align * align;
  }
  while (o.buf().size() % align != 0) o.u8(0);
  const std::uint64_t data_offset = o.buf().size();

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return util::fail(ErrorCode::io, "cannot create " + path + ": " + std::strerror(errno));
  auto status = write_all(fd, o.buf().data(), o.buf().size(), path);
  if (status && options.data == DataMode::random) {
    Rng rng{options.seed};
    std::vector<std::uint8_t> buf;
    for (std::size_t i = 0; i < tensors.size() && status; ++i) {
      const auto info = *core::ggml_type(tensors[i].type);
      // Whole rows per chunk, about 4 MiB at a time.
      const std::uint64_t row = *core::row_bytes(tensors[i].type, tensors[i].shape[0]);
      const std::uint64_t rows_per_chunk = std::max<std::uint64_t>(1, (4u << 20) / row);
      std::uint64_t left = sizes[i];
      while (left > 0 && status) {
        const std::uint64_t n = std::min(left, rows_per_chunk * row);
        buf.assign(static_cast<std::size_t>(n), 0);
        fill_random(buf, tensors[i], n / info.type_size, info, rng);
        status = write_all(fd, buf.data(), buf.size(), path);
        left -= n;
      }
      const std::uint64_t pad = (align - sizes[i] % align) % align;
      buf.assign(static_cast<std::size_t>(pad), 0);
      if (status && pad > 0) status = write_all(fd, buf.data(), buf.size(), path);
    }
  }
  if (status && ::ftruncate(fd, static_cast<off_t>(data_offset + offset)) != 0) {
    status = util::fail(ErrorCode::io, "sizing " + path + ": " + std::strerror(errno));
  }
  if (::close(fd) != 0 && status) {
    status = util::fail(ErrorCode::io, "closing " + path + ": " + std::strerror(errno));
  }
  return status;
}

MetadataEntry meta_string(std::string key, std::string value) {
  return {std::move(key), ValueType::string, std::move(value)};
}
MetadataEntry meta_u32(std::string key, std::uint32_t value) {
  return {std::move(key), ValueType::u32, std::uint64_t{value}};
}
MetadataEntry meta_u64(std::string key, std::uint64_t value) {
  return {std::move(key), ValueType::u64, value};
}
MetadataEntry meta_i32(std::string key, std::int32_t value) {
  return {std::move(key), ValueType::i32, std::int64_t{value}};
}
MetadataEntry meta_f32(std::string key, float value) {
  return {std::move(key), ValueType::f32, static_cast<double>(value)};
}
MetadataEntry meta_bool(std::string key, bool value) {
  return {std::move(key), ValueType::boolean, value};
}
MetadataEntry meta_array(std::string key, ValueType element_type, std::vector<std::int64_t> ints) {
  ArraySummary a;
  a.element_type = element_type;
  a.count = ints.size();
  a.kept = true;
  a.ints = std::move(ints);
  return {std::move(key), ValueType::array, std::move(a)};
}
MetadataEntry meta_array_f32(std::string key, std::vector<double> reals) {
  ArraySummary a;
  a.element_type = ValueType::f32;
  a.count = reals.size();
  a.kept = true;
  a.reals = std::move(reals);
  return {std::move(key), ValueType::array, std::move(a)};
}
MetadataEntry meta_array_strings(std::string key, std::vector<std::string> strings) {
  ArraySummary a;
  a.element_type = ValueType::string;
  a.count = strings.size();
  a.strings = std::move(strings);
  return {std::move(key), ValueType::array, std::move(a)};
}

}  // namespace gpumod::infra::gguf
