#include "gpumod/util/table.hpp"

#include <algorithm>

namespace gpumod::util {

std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (const unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string TextTable::render() const {
  std::vector<std::size_t> width(m_columns.size(), 0);
  for (std::size_t c = 0; c < m_columns.size(); ++c) width[c] = display_width(m_columns[c].header);
  for (const auto& row : m_rows) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], display_width(row[c]));
    }
  }
  std::string out;
  const auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < m_columns.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const std::size_t pad = width[c] - std::min(width[c], display_width(cell));
      if (c) line += "  ";
      if (m_columns[c].numeric) line += std::string(pad, ' ') + cell;
      else line += cell + std::string(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  std::vector<std::string> headers;
  for (const auto& col : m_columns) headers.push_back(col.header);
  emit(headers);
  for (const auto& row : m_rows) emit(row);
  return out;
}

}  // namespace gpumod::util
