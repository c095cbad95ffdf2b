#include "gpumod/app/cli/json_output.hpp"

#include <nlohmann/json.hpp>
#include <string_view>

#include "gpumod/app/daemon/json_codec.hpp"

namespace gpumod::app {

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") return false;
    if (a == "--json") return true;
  }
  return false;
}

std::string error_document(const util::Error& error) { return error_json(error).dump() + "\n"; }

CountingStreambuf::int_type CountingStreambuf::overflow(int_type ch) {
  if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
  ++m_written;
  return m_target->sputc(traits_type::to_char_type(ch));
}

std::streamsize CountingStreambuf::xsputn(const char* s, std::streamsize n) {
  const auto put = m_target->sputn(s, n);
  if (put > 0) m_written += static_cast<std::size_t>(put);
  return put;
}

int CountingStreambuf::sync() { return m_target->pubsync(); }

}  // namespace gpumod::app
