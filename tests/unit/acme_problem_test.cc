// Problem documents (RFC 7807, RFC 8555 6.7) as one log line naming the
// step, the type and the detail.
#include <gtest/gtest.h>

#include "acme/problem.h"

using namespace gh::acme;

namespace {

TEST(AcmeProblem, StepTypeAndDetail) {
  EXPECT_EQ(describe_problem("newOrder", 400,
                             R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier",)"
                             R"("detail":"Invalid identifiers requested","status":400})"),
            "newOrder: urn:ietf:params:acme:error:rejectedIdentifier: Invalid identifiers requested");
}

TEST(AcmeProblem, SubproblemsNameTheirIdentifier) {
  const std::string body = R"({
    "type": "urn:ietf:params:acme:error:malformed",
    "detail": "Some of the identifiers requested were rejected",
    "subproblems": [
      {"type": "urn:ietf:params:acme:error:malformed", "detail": "Invalid underscore in DNS name",
       "identifier": {"type": "dns", "value": "_example.org"}},
      {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "This CA will not issue for \"example.net\"",
       "identifier": {"type": "dns", "value": "example.net"}}
    ]})";
  EXPECT_EQ(describe_problem("newOrder", 403, body),
            "newOrder: urn:ietf:params:acme:error:malformed: Some of the identifiers requested were rejected"
            "; _example.org: urn:ietf:params:acme:error:malformed: Invalid underscore in DNS name"
            "; example.net: urn:ietf:params:acme:error:rejectedIdentifier: This CA will not issue for \"example.net\"");
}

TEST(AcmeProblem, NotAProblemDocumentGivesStatusAndBody) {
  EXPECT_EQ(describe_problem("finalize", 502, "<html>Bad Gateway</html>"), "finalize: HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(describe_problem("finalize", 500, ""), "finalize: HTTP 500");
  EXPECT_EQ(describe_problem("finalize", 500, R"({"detail":"no type"})"), R"(finalize: HTTP 500: {"detail":"no type"})");
}

TEST(AcmeProblem, ControlBytesCannotForgeLogLines) {
  const std::string d = describe_problem("newAccount", 400,
                                         "{\"type\":\"urn:x\",\"detail\":\"a\\nFAKE\\rLOG LINE\\r\\n\"}");
  EXPECT_EQ(d.find('\n'), std::string::npos);
  EXPECT_EQ(d, "newAccount: urn:x: a?FAKE?LOG LINE");
  const std::string big = describe_problem("x", 500, std::string(10000, 'z'));
  EXPECT_LT(big.size(), 300u);
}

TEST(AcmeProblem, ObjectFormAndType) {
  const nlohmann::json p = {{"type", "urn:ietf:params:acme:error:unauthorized"}, {"detail", "wrong key authorization"}};
  EXPECT_EQ(describe_problem("authorization a.example: invalid: http-01", p),
            "authorization a.example: invalid: http-01: urn:ietf:params:acme:error:unauthorized: wrong key authorization");
  EXPECT_EQ(problem_type(R"({"type":"urn:ietf:params:acme:error:badNonce"})"), "urn:ietf:params:acme:error:badNonce");
  EXPECT_EQ(problem_type("nope"), "");
}

}  // namespace
