#include "gpumod/infra/state/damaged.hpp"

#include <ctime>

namespace gpumod::infra::state {

namespace fs = std::filesystem;

util::Result<fs::path> set_aside_damaged(const fs::path& db) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  fs::path aside = db.string() + ".damaged-" + stamp;
  for (int n = 1; fs::exists(aside); ++n) aside = db.string() + ".damaged-" + stamp + "-" + std::to_string(n);
  std::error_code ec;
  fs::rename(db, aside, ec);
  if (ec) return util::fail(util::ErrorCode::io, "setting the damaged state database " + db.string() + " aside: " + ec.message());
  for (const char* suffix : {"-wal", "-shm"}) {
    const fs::path from = db.string() + suffix;
    if (fs::exists(from, ec)) fs::rename(from, aside.string() + suffix, ec);
  }
  return aside;
}

}  // namespace gpumod::infra::state
