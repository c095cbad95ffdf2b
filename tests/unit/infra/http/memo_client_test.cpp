#include "gpumod/infra/http/memo_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace gpumod::infra::http {
namespace {

using namespace std::chrono_literals;

// Counts requests per method and path; a GET can be held until released, so that callers pile up.
class CountingClient final : public HttpClient {
 public:
  util::Result<HttpResponse> get(const std::string& path, std::chrono::milliseconds) override {
    {
      std::unique_lock lock(mutex);
      ++gets[path];
      entered.notify_all();
      release.wait(lock, [&] { return !hold; });
    }
    if (path == "/down") return util::fail(util::ErrorCode::unavailable, "connection refused");
    return HttpResponse{200, "body of " + path + " #" + std::to_string(gets[path]), "text/plain"};
  }
  util::Result<HttpResponse> post(const std::string& path, const std::string&, const std::string&,
                                  std::chrono::milliseconds) override {
    std::lock_guard lock(mutex);
    ++posts[path];
    return HttpResponse{200, "posted", ""};
  }
  util::Result<HttpResponse> stream(const std::string& path, const ChunkHandler&, std::chrono::milliseconds) override {
    std::lock_guard lock(mutex);
    ++posts["stream " + path];
    return HttpResponse{200, "", ""};
  }
  util::Result<HttpResponse> stream_post(const std::string&, const std::string&, const std::string&,
                                         const ChunkHandler&, std::chrono::milliseconds) override {
    return HttpResponse{200, "", ""};
  }
  std::string describe() const override { return "http://127.0.0.1:7070"; }

  std::mutex mutex;
  std::condition_variable entered, release;
  bool hold = false;
  std::map<std::string, int> gets, posts;
};

TEST(MemoClient, EachGetPathIsAskedOnce) {
  CountingClient inner;
  MemoClient memo(inner);
  auto a = memo.get("/health", 1s);
  auto b = memo.get("/health", 1s);
  auto c = memo.get("/models", 1s);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->body, "body of /health #1");
  EXPECT_EQ(b->body, "body of /health #1");
  EXPECT_EQ(c->body, "body of /models #1");
  EXPECT_EQ(inner.gets["/health"], 1);
  EXPECT_EQ(inner.gets["/models"], 1);
  EXPECT_EQ(memo.describe(), "http://127.0.0.1:7070");
}

TEST(MemoClient, CallersArrivingWhileTheFirstWaitsShareItsAnswer) {
  CountingClient inner;
  inner.hold = true;
  MemoClient memo(inner);
  std::vector<std::string> bodies(6);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    threads.emplace_back([&, i] {
      auto r = memo.get("/models", 1s);
      bodies[i] = r ? r->body : "error";
    });
  }
  {
    std::unique_lock lock(inner.mutex);
    inner.entered.wait(lock, [&] { return inner.gets["/models"] == 1; });
  }
  std::this_thread::sleep_for(20ms);  // let the others reach the memo and wait there
  {
    std::lock_guard lock(inner.mutex);
    inner.hold = false;
  }
  inner.release.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(inner.gets["/models"], 1);
  for (const auto& b : bodies) EXPECT_EQ(b, "body of /models #1");
}

TEST(MemoClient, AFailureIsRememberedLikeAnAnswer) {
  CountingClient inner;
  MemoClient memo(inner);
  auto a = memo.get("/down", 1s);
  auto b = memo.get("/down", 1s);
  ASSERT_FALSE(a);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, util::ErrorCode::unavailable);
  EXPECT_EQ(inner.gets["/down"], 1);
}

TEST(MemoClient, PostsAndStreamsAlwaysReachTheServer) {
  CountingClient inner;
  MemoClient memo(inner);
  ASSERT_TRUE(memo.post("/models/load", "{}", "application/json", 1s));
  ASSERT_TRUE(memo.post("/models/load", "{}", "application/json", 1s));
  ASSERT_TRUE(memo.stream("/models/sse", [](std::string_view) { return true; }, 1s));
  ASSERT_TRUE(memo.stream("/models/sse", [](std::string_view) { return true; }, 1s));
  EXPECT_EQ(inner.posts["/models/load"], 2);
  EXPECT_EQ(inner.posts["stream /models/sse"], 2);
}

}  // namespace
}  // namespace gpumod::infra::http
