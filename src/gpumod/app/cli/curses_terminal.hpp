// CursesTerminal: the full-screen terminal of `gpumod top`, through ncurses (Debian's
// libncursesw6) opened with dlopen when top starts, so the other commands never load it. It puts
// a TopScreen on the terminal (colour by line style unless NO_COLOR is set or the terminal has
// none) and reads keys without blocking (the caller waits on stdin with poll).
// Thread-safety: one thread (the one running top).
#pragma once

#include <memory>

#include "gpumod/app/cli/top_view.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::app {

// Keys top understands, from ncurses' codes.
enum class TopKey { none, up, down, enter, escape, resize, other };

struct KeyPress {
  TopKey key = TopKey::none;
  int ch = 0;  // the character for TopKey::other
};

class CursesTerminal {
 public:
  // Errors: unavailable (libncursesw cannot be loaded, or the terminal cannot be set up).
  static util::Result<std::unique_ptr<CursesTerminal>> open(bool color);
  ~CursesTerminal();  // restores the terminal
  CursesTerminal(const CursesTerminal&) = delete;
  CursesTerminal& operator=(const CursesTerminal&) = delete;

  int width() const;
  int height() const;
  void draw(const TopScreen& screen);
  KeyPress read_key();  // none when no key is waiting

 private:
  struct Lib;
  explicit CursesTerminal(std::unique_ptr<Lib> lib);
  std::unique_ptr<Lib> m;
};

}  // namespace gpumod::app
