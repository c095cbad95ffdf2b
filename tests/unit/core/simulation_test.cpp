#include "gpumod/core/simulation.hpp"

#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

SimEntry entry(std::string id, std::int64_t vram, SleepMode mode = SleepMode::none) {
  SimEntry e;
  e.id = std::move(id);
  e.vram_mib = vram;
  e.sleep_mode = mode;
  e.can_sleep = mode != SleepMode::none;
  e.sleep_residue_mib = default_sleep_residue_mib(mode, vram);
  return e;
}

SimInput spike(std::vector<SimEntry> services) {
  return SimInput{std::move(services), 24564, 0};
}

// The spike's table (RTX 4090, 24,564 MiB).
TEST(Simulation, SpikeTableNemotronAloneFits) {
  const auto r = simulate(spike({entry("nemotron-3-nano", 20000, SleepMode::router)}));
  EXPECT_EQ(r.proposed_mib, 20000);
  EXPECT_EQ(r.headroom_mib, 4564);
  EXPECT_TRUE(r.fits);
  EXPECT_TRUE(r.alternatives.empty());
}

TEST(Simulation, SpikeTableNemotronWithEmbedCodeFits) {
  const auto r = simulate(spike({entry("nemotron-3-nano", 20000, SleepMode::router),
                                 entry("vllm-embedding-code", 2500, SleepMode::l1)}));
  EXPECT_EQ(r.proposed_mib, 22500);
  EXPECT_EQ(r.headroom_mib, 2064);
  EXPECT_TRUE(r.fits);
}

TEST(Simulation, SpikeTableBothEmbeddingsDoNotFitAndEveryAlternativeFits) {
  const auto r = simulate(spike({entry("nemotron-3-nano", 20000, SleepMode::router),
                                 entry("vllm-embedding-code", 2500, SleepMode::l1),
                                 entry("vllm-embedding", 5000, SleepMode::l2)}));
  EXPECT_EQ(r.proposed_mib, 27500);
  EXPECT_EQ(r.headroom_mib, -2936);
  EXPECT_FALSE(r.fits);
  ASSERT_FALSE(r.alternatives.empty());
  for (const auto& alt : r.alternatives) {
    EXPECT_LE(alt.projected_total_mib, 24564);
    EXPECT_EQ(alt.projected_total_mib, 27500 - alt.freed_mib);
    EXPECT_GE(alt.headroom_mib, 0);
  }
  // Sleeping the embedding code service (frees 1,900) or stopping it (2,500) is not enough,
  // so neither is listed; the gentlest fitting change comes first: sleep vllm-embedding.
  const auto& first = r.alternatives.front();
  ASSERT_EQ(first.changes.size(), 1u);
  EXPECT_EQ(first.changes[0].service_id, "vllm-embedding");
  EXPECT_EQ(first.changes[0].kind, ChangeKind::sleep);
  EXPECT_EQ(first.freed_mib, 4400);
  for (const auto& alt : r.alternatives) {
    for (const auto& c : alt.changes) EXPECT_NE(c.service_id, "vllm-embedding-code") << "does not fit alone";
  }
}

TEST(Simulation, CombinationsWhenNoSingleChangeFits) {
  SimInput in{{entry("a", 5000, SleepMode::l1), entry("b", 5000, SleepMode::l1), entry("c", 5000)}, 8000, 0};
  const auto r = simulate(in);
  EXPECT_FALSE(r.fits);
  ASSERT_FALSE(r.alternatives.empty());
  for (const auto& alt : r.alternatives) {
    EXPECT_EQ(alt.changes.size(), 2u);
    EXPECT_LE(alt.projected_total_mib, 8000);
  }
  // Gentlest first: sleeping two services beats stopping.
  EXPECT_EQ(r.alternatives.front().changes[0].kind, ChangeKind::sleep);
  EXPECT_EQ(r.alternatives.front().changes[1].kind, ChangeKind::sleep);
}

TEST(Simulation, SupersetsOfAFittingChangeAreNotListed) {
  SimInput in{{entry("a", 6000), entry("b", 1000), entry("c", 1000)}, 7000, 0};
  const auto r = simulate(in);
  for (const auto& alt : r.alternatives) {
    if (alt.changes.size() > 1) {
      for (const auto& c : alt.changes) EXPECT_NE(c.service_id, "a");
    }
  }
}

TEST(Simulation, LowerContextIsSolvedToTheLargestContextThatFits) {
  SimEntry llm = entry("llm", 12000);
  llm.context = 32768;
  // 8,000 MiB of weights + 0.125 MiB per token of KV.
  llm.vram_at_context = [](std::int64_t ctx) -> std::optional<std::int64_t> { return 8000 + ctx / 8; };
  SimInput in{{llm, entry("embed", 2000)}, 13000, 0};
  const auto r = simulate(in);
  ASSERT_FALSE(r.fits);
  ASSERT_FALSE(r.alternatives.empty());
  const auto& first = r.alternatives.front();
  ASSERT_EQ(first.changes.size(), 1u);
  EXPECT_EQ(first.changes[0].kind, ChangeKind::lower_context);
  // 8000 + ctx/8 + 2000 <= 13000  =>  ctx <= 24000  => 23,552 (a multiple of 1,024).
  EXPECT_EQ(first.changes[0].context, 23552);
  EXPECT_EQ(first.projected_total_mib, 8000 + 23552 / 8 + 2000);
}

TEST(Simulation, ExternalMemoryCountsAgainstTheGpu) {
  SimInput in{{entry("a", 6000)}, 8000, 2500};
  const auto r = simulate(in);
  EXPECT_FALSE(r.fits);
  EXPECT_EQ(r.headroom_mib, -500);
}

TEST(Simulation, EmptySetFitsWithFullHeadroom) {
  const auto r = simulate(spike({}));
  EXPECT_TRUE(r.fits);
  EXPECT_EQ(r.headroom_mib, 24564);
}

TEST(Simulation, NothingFitsGivesNoAlternativesOnlyWhenTrulyImpossible) {
  SimInput in{{entry("a", 5000)}, 4000, 0};
  const auto r = simulate(in);
  ASSERT_EQ(r.alternatives.size(), 1u);  // stopping it is the only way
  EXPECT_EQ(r.alternatives[0].changes[0].kind, ChangeKind::stop);
}

}  // namespace
}  // namespace gpumod::core
