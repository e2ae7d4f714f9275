// W3C Trace Context level 1, section 3.2: traceparent values accepted and
// refused, later versions, the value gatehouse makes when it starts a
// trace, and RequestTrace's choice between the received and a new one.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/trace_context.h"

namespace gh::http {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ValidVersion00) {
  auto t = parse_traceparent(kValid);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->version, "00");
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(t->flags, "01");
  // Flags other than sampled are not the parser's business.
  EXPECT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));
}

TEST(Traceparent, RefusedForms) {
  const std::vector<std::string> bad = {
      "",
      "00",
      // uppercase hex in each part (HEXDIGLC)
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      // all-zero ids
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      // version ff is invalid
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      // version 00 is exactly 55 characters
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
      // short ids, missing or wrong separators, non-hex
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
      "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  for (const std::string& v : bad) EXPECT_FALSE(parse_traceparent(v)) << v;
}

TEST(Traceparent, LaterVersionReadByItsFirstFields) {
  // 3.2.4: a version after 00 is read by version 00's fields; what follows
  // the flags (after a dash) is left to that version.
  auto t = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->version, "cc");
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->flags, "01");
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09"));
  // ... but the flags must end the value or be followed by a dash,
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what"));
  // it is never shorter than version 00,
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));
  // and its known fields follow version 00's rules.
  EXPECT_FALSE(parse_traceparent("cc-00000000000000000000000000000000-00f067aa0ba902b7-01-x"));
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01"));
}

TEST(Traceparent, FormatRoundTrips) {
  const uint8_t trace[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                             0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  const uint8_t parent[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  char out[kTraceparentSize];
  format_traceparent(trace, parent, 1, out);
  EXPECT_EQ(std::string_view(out, sizeof out), kValid);
}

std::vector<Field> fields_with(std::vector<std::string_view> traceparents) {
  std::vector<Field> f = {{"Host", "example"}, {"Accept", "*/*"}};
  for (std::string_view v : traceparents) f.push_back(Field{"TraceParent", v});
  return f;
}

struct Counter {
  int calls = 0;
  uint64_t operator()() { return 0x0123456789abcdefull + uint64_t(++calls); }
};

TEST(RequestTrace, ValidReceivedIsKeptInBothModes) {
  for (bool start : {false, true}) {
    RequestTrace t;
    Counter rng;
    auto f = fields_with({kValid});
    t.read(f, start, [&] { return rng(); });
    EXPECT_EQ(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_TRUE(t.started().empty());
    EXPECT_EQ(rng.calls, 0);
    // The trace-id is a copy: it outlives the field's bytes.
    std::string copy(kValid);
    std::vector<Field> g = {{"traceparent", copy}};
    t.read(g, start, [&] { return rng(); });
    copy.assign(copy.size(), 'x');
    EXPECT_EQ(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  }
}

TEST(RequestTrace, PassModeNeverStarts) {
  for (auto tps : std::vector<std::vector<std::string_view>>{
           {}, {"00-bad"}, {kValid, kValid}, {"FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}) {
    RequestTrace t;
    auto f = fields_with(tps);
    Counter rng;
    t.read(f, false, [&] { return rng(); });
    EXPECT_TRUE(t.trace_id().empty());
    EXPECT_TRUE(t.started().empty());
    EXPECT_EQ(rng.calls, 0);
  }
}

TEST(RequestTrace, StartModeStartsWhenAbsentInvalidOrRepeated) {
  for (auto tps : std::vector<std::vector<std::string_view>>{
           {}, {"00-bad"}, {kValid, kValid},
           {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}}) {
    RequestTrace t;
    auto f = fields_with(tps);
    Counter rng;
    t.read(f, true, [&] { return rng(); });
    EXPECT_EQ(rng.calls, 3);
    std::string_view s = t.started();
    ASSERT_EQ(s.size(), kTraceparentSize);
    auto p = parse_traceparent(s);
    ASSERT_TRUE(p) << s;
    EXPECT_EQ(p->version, "00");
    EXPECT_EQ(p->flags, "00");   // not sampled: gatehouse records no spans
    EXPECT_EQ(t.trace_id(), p->trace_id);
  }
}

TEST(RequestTrace, StartedIdsAreFromTheWordsAndNeverZero) {
  RequestTrace t;
  t.begin({0x1122334455667788ull, 0x99aabbccddeeff00ull, 0x0102030405060708ull});
  EXPECT_EQ(t.started(), "00-8877665544332211" "00ffeeddccbbaa99" "-0807060504030201-00");
  t.begin({0, 0, 0});
  auto p = parse_traceparent(t.started());
  ASSERT_TRUE(p) << t.started();
  EXPECT_EQ(p->trace_id, "00000000000000000000000000000001");
  EXPECT_EQ(p->parent_id, "0000000000000001");
  t.clear();
  EXPECT_TRUE(t.trace_id().empty());
  EXPECT_TRUE(t.started().empty());
}

}  // namespace
}  // namespace gh::http
