// The requests ring of the state store (migration 2): batches in one transaction, newest kept.
#include <gtest/gtest.h>

#include "gpumod/infra/state/state_store.hpp"
#include "support/temp_dir.hpp"

namespace gpumod::infra::state {
namespace {

RequestRecord req(int n) {
  RequestRecord r;
  r.ts_ms = 1000 + n;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.model = "m" + std::to_string(n);
  r.service_id = "chat";
  r.status = 200;
  r.queue_ms = n;
  r.ttfb_ms = 2 * n;
  r.duration_ms = 3 * n;
  if (n % 2 == 0) r.prompt_tokens = n;
  r.action = "serve";
  return r;
}

TEST(RequestRing, KeepsTheNewestRowsOldestFirst) {
  test_support::TempDir dir;
  auto store = StateStore::open(dir.path() / "gpumod.db");
  ASSERT_TRUE(store) << store.error().message;
  std::vector<RequestRecord> batch;
  for (int i = 1; i <= 7; ++i) batch.push_back(req(i));
  ASSERT_TRUE(store->record_requests(batch, 5));
  ASSERT_TRUE(store->record_requests({req(8)}, 5));
  auto list = store->list_requests(100);
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 5u);
  EXPECT_EQ(list->front().model, "m4");
  EXPECT_EQ(list->back().model, "m8");
  EXPECT_EQ(list->back().prompt_tokens, 8);
  EXPECT_FALSE((*list)[1].prompt_tokens) << "m5 has none";
  EXPECT_EQ(list->back().ttfb_ms, 16);
  auto newest = store->list_requests(2);
  ASSERT_TRUE(newest);
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ(newest->front().model, "m7");
}

TEST(RequestRing, FiltersByModelAndServiceBeforeTheLimit) {
  test_support::TempDir dir;
  auto store = StateStore::open(dir.path() / "gpumod.db");
  ASSERT_TRUE(store) << store.error().message;
  std::vector<RequestRecord> batch;
  for (int i = 1; i <= 6; ++i) {
    auto r = req(i);
    r.model = i % 2 ? "odd" : "even";
    r.service_id = i <= 3 ? "low" : "high";
    batch.push_back(r);
  }
  ASSERT_TRUE(store->record_requests(batch, 100));
  auto odd = store->list_requests(2, "odd");
  ASSERT_TRUE(odd);
  ASSERT_EQ(odd->size(), 2u) << "the newest two of the odd ones, not of all";
  EXPECT_EQ(odd->front().duration_ms, 9);
  EXPECT_EQ(odd->back().duration_ms, 15);
  auto low_even = store->list_requests(100, "even", "low");
  ASSERT_TRUE(low_even);
  ASSERT_EQ(low_even->size(), 1u);
  EXPECT_EQ(low_even->front().duration_ms, 6);
  EXPECT_EQ(store->list_requests(100, "", "high")->size(), 3u);
  EXPECT_TRUE(store->list_requests(100, "nobody")->empty());
}

}  // namespace
}  // namespace gpumod::infra::state
