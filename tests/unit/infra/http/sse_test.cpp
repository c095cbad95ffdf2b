#include "gpumod/infra/http/sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gpumod::infra::http {
namespace {

std::vector<SseEvent> parse_in_pieces(std::string_view text, std::size_t piece) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (std::size_t i = 0; i < text.size(); i += piece) {
    parser.feed(text.substr(i, piece), [&](const SseEvent& e) { events.push_back(e); });
  }
  return events;
}

TEST(SseParser, HandlesAllLineEndingsAtEverySplit) {
  const std::string lf = "data: a\n\nevent: x\ndata: b\n\n";
  const std::string crlf = "data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n";
  const std::string cr = "data: a\r\revent: x\rdata: b\r\r";
  for (const auto* text : {&lf, &crlf, &cr}) {
    for (std::size_t piece = 1; piece <= text->size(); ++piece) {
      const auto events = parse_in_pieces(*text, piece);
      ASSERT_EQ(events.size(), 2u) << "piece size " << piece;
      EXPECT_EQ(events[0].event, "message");
      EXPECT_EQ(events[0].data, "a");
      EXPECT_EQ(events[1].event, "x");
      EXPECT_EQ(events[1].data, "b");
    }
  }
}

TEST(SseParser, JoinsMultiLineDataAndKeepsInnerSpaces) {
  const auto events = parse_in_pieces("data:  two spaces\ndata:no space\ndata\n\n", 1000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, " two spaces\nno space\n");
}

TEST(SseParser, IgnoresCommentsAndEventsWithoutData) {
  const auto events =
      parse_in_pieces(": ping\n\nevent: lonely\n\nid: 7\n\n:another\ndata: x\n\n", 3);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "message");  // the type of a dropped event does not leak
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[0].id, "7");  // ids are sticky, even from an event that was not dispatched
}

TEST(SseParser, IdIsStickyAndRetryIsRecorded) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed("id: 1\ndata: a\n\ndata: b\n\nretry: 2500\nid\ndata: c\n\n",
              [&](const SseEvent& e) { events.push_back(e); });
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[1].id, "1");
  EXPECT_EQ(events[2].id, "");  // a bare "id" line resets it
  EXPECT_EQ(parser.retry_ms(), 2500);
}

TEST(SseParser, UnfinishedEventIsNotDispatchedAndBomIsSkipped) {
  for (std::size_t piece : {1u, 2u, 100u}) {
    const auto events = parse_in_pieces("\xEF\xBB\xBF" "data: first\n\ndata: partial", piece);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "first");
  }
  // A BOM-less stream whose first bytes look like the start of one is not eaten.
  const auto plain = parse_in_pieces("data: z\n\n", 1);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].data, "z");
}

TEST(SseParser, ResetDropsState) {
  SseParser parser;
  std::vector<SseEvent> events;
  auto sink = [&](const SseEvent& e) { events.push_back(e); };
  parser.feed("id: 9\ndata: half", sink);
  parser.reset();
  parser.feed("data: fresh\n\n", sink);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "fresh");
  EXPECT_EQ(events[0].id, "");
}

TEST(SseParser, OpenAiStyleStream) {
  const std::string text =
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\" there\"}}]}\r\n\r\n"
      "data: [DONE]\r\n\r\n";
  const auto events = parse_in_pieces(text, 7);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].data, "{\"choices\":[{\"delta\":{\"content\":\" there\"}}]}");
  EXPECT_EQ(events[2].data, "[DONE]");
}

}  // namespace
}  // namespace gpumod::infra::http
