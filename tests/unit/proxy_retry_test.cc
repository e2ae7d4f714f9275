// The retry rule (proxy/retry.h): RFC 9110 section 9.2.2 idempotent methods,
// RFC 9112 section 9.3.1: no automatic retry of a request that may have been
// applied unless it is idempotent and its body is still held whole.
#include <gtest/gtest.h>

#include "proxy/retry.h"

using namespace gh::proxy;

TEST(Retry, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
    EXPECT_TRUE(is_idempotent(m)) << m;
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", "PROPFIND", ""})
    EXPECT_FALSE(is_idempotent(m)) << m;
}

TEST(Retry, NothingSentAlwaysRetries) {
  for (const char* m : {"GET", "POST", "PATCH"}) {
    EXPECT_TRUE(may_retry(TryProgress::not_sent, m, false)) << m;
    EXPECT_TRUE(may_retry(TryProgress::not_sent, m, true)) << m;
  }
}

TEST(Retry, HeadWithoutBodyBytesRetries) {
  EXPECT_TRUE(may_retry(TryProgress::head_only, "POST", false));
  EXPECT_TRUE(may_retry(TryProgress::head_only, "PUT", false));
}

TEST(Retry, SentRequestsOnlyWhenIdempotentAndReplayable) {
  EXPECT_TRUE(may_retry(TryProgress::sent, "GET", true));
  EXPECT_TRUE(may_retry(TryProgress::sent, "PUT", true));
  EXPECT_TRUE(may_retry(TryProgress::sent, "DELETE", true));
  EXPECT_FALSE(may_retry(TryProgress::sent, "PUT", false));     // part of its body is gone
  EXPECT_FALSE(may_retry(TryProgress::sent, "POST", true));     // may have been applied
  EXPECT_FALSE(may_retry(TryProgress::sent, "PATCH", true));
  EXPECT_FALSE(may_retry(TryProgress::sent, "POST", false));
}
