// The http-01 board the plain listener answers from (acme/http01_board.h).
#include <gtest/gtest.h>

#include <thread>

#include "acme/http01_board.h"

namespace gh::acme {
namespace {

TEST(AcmeHttp01Board, AnswersPendingTokensOnly) {
  Http01Board b;
  EXPECT_FALSE(b.answer("/.well-known/acme-challenge/tok1")) << "nothing pending";
  b.add("tok1", "tok1.thumb");
  EXPECT_EQ(b.answer("/.well-known/acme-challenge/tok1"), "tok1.thumb");
  EXPECT_EQ(b.answer("/.well-known/acme-challenge/tok1?x=1"), "tok1.thumb");
  EXPECT_FALSE(b.answer("/.well-known/acme-challenge/tok2"));
  EXPECT_FALSE(b.answer("/.well-known/acme-challenge/"));
  EXPECT_FALSE(b.answer("/.well-known/acme-challenge"));
  EXPECT_FALSE(b.answer("/other/tok1"));
  EXPECT_FALSE(b.answer("/.well-known/acme-challenge/tok1/more"));
  b.remove("tok1");
  EXPECT_FALSE(b.answer("/.well-known/acme-challenge/tok1"));
  b.remove("never-added");   // harmless
}

TEST(AcmeHttp01Board, ReadersWhileTheManagerWrites) {
  Http01Board b;
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto a = b.answer("/.well-known/acme-challenge/t");
      if (a && *a != "t.k") wrong.fetch_add(1);
    }
  });
  for (int i = 0; i < 20000; ++i) {
    b.add("t", "t.k");
    b.remove("t");
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace gh::acme
