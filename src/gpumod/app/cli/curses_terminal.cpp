#include "gpumod/app/cli/curses_terminal.hpp"

#include <dlfcn.h>

#include <clocale>
#include <string>

// Types and constants only: every function is called through the pointers loaded below.
#define NCURSES_NOMACROS 1
#include <curses.h>

namespace gpumod::app {

namespace {
// COLOR_PAIR without the macros (NCURSES_NOMACROS makes it a function we do not load).
constexpr attr_t color_pair(int n) { return static_cast<attr_t>(n) << NCURSES_ATTR_SHIFT; }
}  // namespace

struct CursesTerminal::Lib {
  void* handle = nullptr;
  WINDOW** stdscr_ptr = nullptr;
  WINDOW* (*initscr_fn)() = nullptr;
  int (*endwin_fn)() = nullptr;
  int (*cbreak_fn)() = nullptr;
  int (*noecho_fn)() = nullptr;
  int (*keypad_fn)(WINDOW*, bool) = nullptr;
  int (*curs_set_fn)(int) = nullptr;
  int (*nodelay_fn)(WINDOW*, bool) = nullptr;
  int (*wgetch_fn)(WINDOW*) = nullptr;
  int (*werase_fn)(WINDOW*) = nullptr;
  int (*mvwaddnstr_fn)(WINDOW*, int, int, const char*, int) = nullptr;
  int (*wattr_on_fn)(WINDOW*, attr_t, void*) = nullptr;
  int (*wattr_off_fn)(WINDOW*, attr_t, void*) = nullptr;
  bool (*has_colors_fn)() = nullptr;
  int (*start_color_fn)() = nullptr;
  int (*use_default_colors_fn)() = nullptr;
  int (*init_pair_fn)(short, short, short) = nullptr;
  int (*wrefresh_fn)(WINDOW*) = nullptr;
  int (*getmaxy_fn)(const WINDOW*) = nullptr;
  int (*getmaxx_fn)(const WINDOW*) = nullptr;
  int (*set_escdelay_fn)(int) = nullptr;
  bool color = false;
  bool started = false;

  ~Lib() {
    if (started) endwin_fn();
    if (handle) ::dlclose(handle);
  }
  WINDOW* win() const { return *stdscr_ptr; }

  template <typename F>
  bool load(F& fn, const char* name) {
    fn = reinterpret_cast<F>(::dlsym(handle, name));
    return fn != nullptr;
  }
};

CursesTerminal::CursesTerminal(std::unique_ptr<Lib> lib) : m(std::move(lib)) {}
CursesTerminal::~CursesTerminal() = default;

util::Result<std::unique_ptr<CursesTerminal>> CursesTerminal::open(bool color) {
  auto lib = std::make_unique<Lib>();
  for (const char* so : {"libncursesw.so.6", "libncursesw.so", "libncurses.so.6"}) {
    lib->handle = ::dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (lib->handle) break;
  }
  if (!lib->handle) {
    return util::fail(util::ErrorCode::unavailable, "gpumod top needs ncurses (Debian: libncursesw6): " +
                                                        std::string(::dlerror() ? ::dlerror() : "not found"));
  }
  auto& l = *lib;
  l.stdscr_ptr = reinterpret_cast<WINDOW**>(::dlsym(l.handle, "stdscr"));
  const bool ok = l.stdscr_ptr && l.load(l.initscr_fn, "initscr") && l.load(l.endwin_fn, "endwin") &&
                  l.load(l.cbreak_fn, "cbreak") && l.load(l.noecho_fn, "noecho") && l.load(l.keypad_fn, "keypad") &&
                  l.load(l.curs_set_fn, "curs_set") && l.load(l.nodelay_fn, "nodelay") &&
                  l.load(l.wgetch_fn, "wgetch") && l.load(l.werase_fn, "werase") &&
                  l.load(l.mvwaddnstr_fn, "mvwaddnstr") && l.load(l.wattr_on_fn, "wattr_on") &&
                  l.load(l.wattr_off_fn, "wattr_off") && l.load(l.has_colors_fn, "has_colors") &&
                  l.load(l.start_color_fn, "start_color") && l.load(l.use_default_colors_fn, "use_default_colors") &&
                  l.load(l.init_pair_fn, "init_pair") && l.load(l.wrefresh_fn, "wrefresh") &&
                  l.load(l.getmaxy_fn, "getmaxy") && l.load(l.getmaxx_fn, "getmaxx") &&
                  l.load(l.set_escdelay_fn, "set_escdelay");
  if (!ok) return util::fail(util::ErrorCode::unavailable, "the ncurses library lacks a function gpumod top needs");
  std::setlocale(LC_ALL, "");
  if (l.initscr_fn() == nullptr) return util::fail(util::ErrorCode::unavailable, "cannot set up the terminal");
  l.started = true;
  l.cbreak_fn();
  l.noecho_fn();
  l.keypad_fn(l.win(), true);
  l.nodelay_fn(l.win(), true);
  l.curs_set_fn(0);
  l.set_escdelay_fn(25);
  if (color && l.has_colors_fn()) {
    l.start_color_fn();
    l.use_default_colors_fn();
    l.init_pair_fn(1, COLOR_GREEN, -1);
    l.init_pair_fn(2, COLOR_YELLOW, -1);
    l.init_pair_fn(3, COLOR_RED, -1);
    l.init_pair_fn(4, COLOR_CYAN, -1);
    l.color = true;
  }
  return std::unique_ptr<CursesTerminal>(new CursesTerminal(std::move(lib)));
}

int CursesTerminal::width() const { return m->getmaxx_fn(m->win()); }
int CursesTerminal::height() const { return m->getmaxy_fn(m->win()); }

void CursesTerminal::draw(const TopScreen& screen) {
  auto* w = m->win();
  m->werase_fn(w);
  const int cols = width();
  for (std::size_t y = 0; y < screen.lines.size(); ++y) {
    attr_t attr = A_NORMAL;
    switch (screen.styles[y]) {
      case LineStyle::title: attr = A_BOLD; break;
      case LineStyle::header: attr = A_BOLD | (m->color ? color_pair(4) : A_NORMAL); break;
      case LineStyle::selected: attr = A_REVERSE; break;
      case LineStyle::good: attr = m->color ? color_pair(1) : A_NORMAL; break;
      case LineStyle::warn: attr = m->color ? color_pair(2) : A_NORMAL; break;
      case LineStyle::bad: attr = m->color ? color_pair(3) : A_BOLD; break;
      case LineStyle::dim: attr = A_DIM; break;
      case LineStyle::normal: break;
    }
    // The bottom-right cell is left alone: writing it scrolls some terminals.
    const auto& line = screen.lines[y];
    const int n = (static_cast<int>(y) + 1 == height()) ? cols - 1 : -1;  // the lines fit already
    if (attr != A_NORMAL) m->wattr_on_fn(w, attr, nullptr);
    m->mvwaddnstr_fn(w, static_cast<int>(y), 0, line.c_str(), n);
    if (attr != A_NORMAL) m->wattr_off_fn(w, attr, nullptr);
  }
  m->wrefresh_fn(w);
}

KeyPress CursesTerminal::read_key() {
  const int c = m->wgetch_fn(m->win());
  switch (c) {
    case ERR: return {TopKey::none, 0};
    case KEY_UP: return {TopKey::up, 0};
    case KEY_DOWN: return {TopKey::down, 0};
    case KEY_ENTER:
    case '\n':
    case '\r': return {TopKey::enter, 0};
    case 27: return {TopKey::escape, 0};
    case KEY_RESIZE: return {TopKey::resize, 0};
    default: return {TopKey::other, c};
  }
}

}  // namespace gpumod::app
