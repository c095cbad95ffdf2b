// RequestLog: records the requests the OpenAI-compatible endpoint answered into the state
// database's bounded ring, off the request path: records are queued and one writer thread
// stores them in batches (one transaction each), woken by new records.
// Thread-safety: add() may be called from any thread; the destructor flushes and joins.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gpumod/infra/state/state_store.hpp"

namespace gpumod::app {

class RequestLog {
 public:
  RequestLog(infra::state::StateStore& store, int keep_rows);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  void add(infra::state::RequestRecord record);

 private:
  void run();

  infra::state::StateStore& m_store;
  int m_keep_rows;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<infra::state::RequestRecord> m_pending;
  bool m_stopping = false;
  std::thread m_thread;
};

}  // namespace gpumod::app
