#include "gpumod/app/daemon/request_log.hpp"

#include <iostream>

namespace gpumod::app {

namespace {
constexpr std::size_t k_max_pending = 100000;  // beyond this, records are dropped
constexpr std::size_t k_batch = 512;
constexpr std::chrono::milliseconds k_gather{50};
}

RequestLog::RequestLog(infra::state::StateStore& store, int keep_rows)
    : m_store(store), m_keep_rows(keep_rows), m_thread([this] { run(); }) {}

RequestLog::~RequestLog() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_cv.notify_all();
  m_thread.join();
}

void RequestLog::add(infra::state::RequestRecord record) {
  {
    std::lock_guard lock(m_mutex);
    if (m_pending.size() >= k_max_pending) return;
    m_pending.push_back(std::move(record));
  }
  m_cv.notify_one();
}

void RequestLog::run() {
  std::unique_lock lock(m_mutex);
  while (true) {
    m_cv.wait(lock, [&] { return m_stopping || !m_pending.empty(); });
    if (m_pending.empty() && m_stopping) return;
    // Under load, gather for a moment: one transaction per batch, not per request.
    m_cv.wait_for(lock, k_gather, [&] { return m_stopping || m_pending.size() >= k_batch; });
    std::vector<infra::state::RequestRecord> batch;
    batch.swap(m_pending);
    lock.unlock();
    if (auto st = m_store.record_requests(batch, m_keep_rows); !st) {
      std::cerr << "gpumod daemon: recording " << batch.size() << " requests: " << st.error().message << "\n";
    }
    lock.lock();
  }
}

}  // namespace gpumod::app
