// SHA-256 (FIPS 180-4), incremental, to verify downloaded files against the Hub's LFS sha256.
// (OpenSSL's EVP would do the same; libcrypto is not on gpumod's link line, see docs/huggingface.md.)
// Thread-safety: one Sha256 object per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gpumod::infra::hf {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t bytes);
  void update(std::string_view text) { update(text.data(), text.size()); }
  std::string hex_digest();  // finishes; the object must not be updated afterwards

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> m_h{};
  std::array<std::uint8_t, 64> m_buf{};
  std::size_t m_buf_len = 0;
  std::uint64_t m_total = 0;
};

std::string sha256_hex(std::string_view data);

}  // namespace gpumod::infra::hf
