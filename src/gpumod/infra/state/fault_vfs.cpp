#include "gpumod/infra/state/fault_vfs.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>

namespace gpumod::infra::state {

namespace {

constexpr const char* k_name = "gpumod-faults";

enum class Fault { none, full, eio, read };

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs{};
sqlite3_io_methods g_methods{};

// Our file: the header SQLite sees, the control file's path, then the real VFS's file.
struct FaultFile {
  sqlite3_file base;
  std::string* control;  // null: not a database file (temp files are never faulted)
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

FaultFile* ff(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }

Fault fault_of(const FaultFile* f) {
  if (f->control == nullptr) return Fault::none;
  struct stat st {};
  if (::stat(f->control->c_str(), &st) != 0) return Fault::none;
  std::ifstream in(*f->control);
  std::string word;
  in >> word;
  if (word == "full") return Fault::full;
  if (word == "eio") return Fault::eio;
  if (word == "read") return Fault::read;
  return Fault::none;
}

int write_fault(const FaultFile* f) {
  switch (fault_of(f)) {
    case Fault::full: return SQLITE_FULL;
    case Fault::eio: return SQLITE_IOERR_WRITE;
    default: return SQLITE_OK;
  }
}

int x_close(sqlite3_file* f) {
  int rc = ff(f)->real()->pMethods ? ff(f)->real()->pMethods->xClose(ff(f)->real()) : SQLITE_OK;
  delete ff(f)->control;
  ff(f)->control = nullptr;
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  if (fault_of(ff(f)) == Fault::read) return SQLITE_IOERR_READ;
  return ff(f)->real()->pMethods->xRead(ff(f)->real(), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (int rc = write_fault(ff(f)); rc != SQLITE_OK) return rc;
  return ff(f)->real()->pMethods->xWrite(ff(f)->real(), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = write_fault(ff(f)); rc != SQLITE_OK) return rc;
  return ff(f)->real()->pMethods->xTruncate(ff(f)->real(), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (int rc = write_fault(ff(f)); rc != SQLITE_OK) return rc == SQLITE_FULL ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
  return ff(f)->real()->pMethods->xSync(ff(f)->real(), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return ff(f)->real()->pMethods->xFileSize(ff(f)->real(), size); }
int x_lock(sqlite3_file* f, int l) { return ff(f)->real()->pMethods->xLock(ff(f)->real(), l); }
int x_unlock(sqlite3_file* f, int l) { return ff(f)->real()->pMethods->xUnlock(ff(f)->real(), l); }
int x_check_reserved(sqlite3_file* f, int* out) { return ff(f)->real()->pMethods->xCheckReservedLock(ff(f)->real(), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return ff(f)->real()->pMethods->xFileControl(ff(f)->real(), op, arg); }
int x_sector_size(sqlite3_file* f) { return ff(f)->real()->pMethods->xSectorSize(ff(f)->real()); }
int x_device_chars(sqlite3_file* f) { return ff(f)->real()->pMethods->xDeviceCharacteristics(ff(f)->real()); }
int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** p) {
  return ff(f)->real()->pMethods->xShmMap(ff(f)->real(), pg, sz, extend, p);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) { return ff(f)->real()->pMethods->xShmLock(ff(f)->real(), offset, n, flags); }
void x_shm_barrier(sqlite3_file* f) { ff(f)->real()->pMethods->xShmBarrier(ff(f)->real()); }
int x_shm_unmap(sqlite3_file* f, int del) { return ff(f)->real()->pMethods->xShmUnmap(ff(f)->real(), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) {
  *p = nullptr;  // no memory-mapped reads: every read goes through x_read
  (void)f, (void)off, (void)n;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return ff(f)->real()->pMethods->xUnfetch(ff(f)->real(), off, p); }

// The database a file belongs to: its name without SQLite's -wal / -journal / -shm suffix.
std::string database_of(const char* name) {
  std::string s(name);
  for (const char* suffix : {"-wal", "-journal", "-shm"}) {
    const std::size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) return s.substr(0, s.size() - n);
  }
  return s;
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* f = ff(file);
  f->base.pMethods = nullptr;
  f->control = nullptr;
  int rc = g_real->xOpen(g_real, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  if (name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0) {
    f->control = new std::string(database_of(name) + ".faults");
  }
  f->base.pMethods = &g_methods;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync) { return g_real->xDelete(g_real, name, sync); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) { return g_real->xFullPathname(g_real, name, n, out); }
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void x_dl_error(sqlite3_vfs*, int n, char* msg) { g_real->xDlError(g_real, n, msg); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return g_real->xDlSym(g_real, h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int x_current_time(sqlite3_vfs*, double* t) { return g_real->xCurrentTime(g_real, t); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) { return g_real->xCurrentTimeInt64(g_real, t); }

void register_vfs() {
  g_real = sqlite3_vfs_find(nullptr);
  if (g_real == nullptr) return;
  g_methods = sqlite3_io_methods{3,          x_close,        x_read,        x_write,          x_truncate,
                                 x_sync,     x_file_size,    x_lock,        x_unlock,         x_check_reserved,
                                 x_file_control, x_sector_size, x_device_chars, x_shm_map, x_shm_lock,
                                 x_shm_barrier, x_shm_unmap, x_fetch,       x_unfetch};
  g_vfs = sqlite3_vfs{};
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_real->szOsFile;
  g_vfs.mxPathname = g_real->mxPathname;
  g_vfs.zName = k_name;
  g_vfs.xOpen = x_open;
  g_vfs.xDelete = x_delete;
  g_vfs.xAccess = x_access;
  g_vfs.xFullPathname = x_full_pathname;
  g_vfs.xDlOpen = x_dl_open;
  g_vfs.xDlError = x_dl_error;
  g_vfs.xDlSym = x_dl_sym;
  g_vfs.xDlClose = x_dl_close;
  g_vfs.xRandomness = x_randomness;
  g_vfs.xSleep = x_sleep;
  g_vfs.xCurrentTime = x_current_time;
  g_vfs.xGetLastError = x_get_last_error;
  g_vfs.xCurrentTimeInt64 = x_current_time_int64;
  if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) g_real = nullptr;
}

}  // namespace

const char* fault_vfs_name() {
  const char* on = std::getenv("GPUMOD_STATE_FAULT_INJECTION");
  if (on == nullptr || std::strcmp(on, "1") != 0) return nullptr;
  static std::once_flag once;
  std::call_once(once, register_vfs);
  return g_real != nullptr ? k_name : nullptr;
}

}  // namespace gpumod::infra::state
