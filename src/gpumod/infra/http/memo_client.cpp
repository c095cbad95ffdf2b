#include "gpumod/infra/http/memo_client.hpp"

namespace gpumod::infra::http {

util::Result<HttpResponse> MemoClient::get(const std::string& path, std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  auto [it, first] = m_answers.try_emplace(path);
  if (!first) {
    m_answered.wait(lock, [&] { return it->second.has_value(); });
    return *it->second;
  }
  lock.unlock();
  auto answer = m_inner.get(path, timeout);
  lock.lock();
  it->second = answer;  // std::map iterators stay valid while other paths are added
  m_answered.notify_all();
  return answer;
}

}  // namespace gpumod::infra::http
