// TextTable: aligned plain-text tables for people (the CLI's non-JSON output).
// Columns are left-aligned unless marked numeric (right-aligned). Thread-safety: none needed.
#pragma once

#include <string>
#include <vector>

namespace gpumod::util {

class TextTable {
 public:
  struct Column {
    std::string header;
    bool numeric = false;
  };
  explicit TextTable(std::vector<Column> columns) : m_columns(std::move(columns)) {}
  void add_row(std::vector<std::string> cells) { m_rows.push_back(std::move(cells)); }
  std::string render() const;  // header + rows, two spaces between columns, trailing spaces trimmed

 private:
  std::vector<Column> m_columns;
  std::vector<std::vector<std::string>> m_rows;
};

// Display width of UTF-8 text (counts code points; enough for the box-drawing glyphs we use).
std::size_t display_width(const std::string& s);

}  // namespace gpumod::util
