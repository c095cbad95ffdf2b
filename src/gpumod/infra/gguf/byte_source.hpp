// ByteSource: random-access reads from something of known size (a local file, a memory buffer,
// later an HTTP Range source for Hugging Face). The GGUF reader reads through this interface.
// Thread-safety: one source per reader; FileByteSource uses pread and holds no cursor, so
// concurrent read_at calls on one FileByteSource are safe; MemoryByteSource is read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::infra::gguf {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to out.size() bytes at `offset`; returns how many were read (fewer only at the end).
  virtual util::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) = 0;
  virtual std::uint64_t size() const = 0;
  // A name for error messages (a path or a URL).
  virtual std::string name() const = 0;
};

// A local regular file, read with pread.
class FileByteSource final : public ByteSource {
 public:
  static util::Result<std::unique_ptr<FileByteSource>> open(const std::string& path);
  ~FileByteSource() override;
  FileByteSource(const FileByteSource&) = delete;
  FileByteSource& operator=(const FileByteSource&) = delete;

  util::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override;
  std::uint64_t size() const override { return m_size; }
  std::string name() const override { return m_path; }

 private:
  FileByteSource(std::string path, int fd, std::uint64_t size)
      : m_path(std::move(path)), m_fd(fd), m_size(size) {}
  std::string m_path;
  int m_fd = -1;
  std::uint64_t m_size = 0;
};

// Bytes already in memory (not owned: the span must outlive the source).
class MemoryByteSource final : public ByteSource {
 public:
  explicit MemoryByteSource(std::span<const std::byte> bytes, std::string name = "<memory>")
      : m_bytes(bytes), m_name(std::move(name)) {}
  util::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override;
  std::uint64_t size() const override { return m_bytes.size(); }
  std::string name() const override { return m_name; }

 private:
  std::span<const std::byte> m_bytes;
  std::string m_name;
};

}  // namespace gpumod::infra::gguf
