// RFC 3261 §18.3 stream framing: sipFrameLength and skipKeepalive.

#include "signaling/sip/SipFraming.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/sip/SipMessage.h"
#include "signaling/sip/Via.h"
#include "signaling/sip/test/SipTestMessages.h"

namespace rdv::sip {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared test messages

// ---- Stream framing ----

TEST(SipFrameLength, NeedsMoreBytesUntilHeadersAndBodyHaveArrived) {
  const std::string m = invite().body(std::string(kSdp)).str();
  for (size_t cut = 0; cut < m.size(); ++cut) {
    auto len = sipFrameLength(std::string_view(m).substr(0, cut));
    ASSERT_TRUE(len) << cut;
    ASSERT_EQ(*len, 0U) << cut;
  }
  EXPECT_EQ(*sipFrameLength(m), m.size());
}

TEST(SipFrameLength, CutsPipelinedMessagesOneAtATime) {
  const std::string a = invite().body("abc").str();
  const std::string b = okResponse().str();
  const std::string stream = a + b + "INVITE sip:partial";
  std::string_view rest = stream;
  auto first = sipFrameLength(rest);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, a.size());
  rest.remove_prefix(*first);
  auto second = sipFrameLength(rest);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, b.size());
  EXPECT_TRUE(SipMessage::parse(std::string(rest.substr(0, *second))));
  rest.remove_prefix(*second);
  EXPECT_EQ(*sipFrameLength(rest), 0U);
}

TEST(SipFrameLength, ReadsCompactAndFoldedContentLength) {
  const std::string compact = invite().noContentLength().add("l: 3").body("xyz").str();
  EXPECT_EQ(*sipFrameLength(compact + "next"), compact.size());
  const std::string folded = invite().noContentLength().add("Content-Length:\r\n  3").body("xyz").str();
  EXPECT_EQ(*sipFrameLength(folded), folded.size());
}

TEST(SipFrameLength, KeepalivesBeforeAMessageAreSkippedOrCounted) {
  const std::string m = invite().str();
  const std::string stream = "\r\n\r\n" + m;
  EXPECT_EQ(skipKeepalive(stream), 4U);
  EXPECT_EQ(skipKeepalive(m), 0U);
  EXPECT_EQ(skipKeepalive("\r\n"), 2U);
  EXPECT_EQ(*sipFrameLength(stream), stream.size());
  EXPECT_EQ(*sipFrameLength("\r\n\r\n"), 0U);
}

TEST(SipFrameLength, RejectsStreamsItCannotFrame) {
  struct Case {
    std::string buf;
    size_t maxSize;
    int status;
    const char* reason;
  };
  const Case cases[] = {
      {invite().noContentLength().str(), 65536, 400, "Missing Content-Length header"},
      {invite().noContentLength().add("Content-Length: -1").str(), 65536, 400,
       "Malformed Content-Length header"},
      {invite().noContentLength().add("Content-Length: 99999999999999999999999").str(), 65536, 400,
       "Content-Length too large"},
      {invite().add("l: 0").str(), 65536, 400, "Duplicate Content-Length header"},
      {invite().str(), 100, 513, "Message Too Large"},
      {"INVITE sip:a@b SIP/2.0\r\nX: " + std::string(200, 'x'), 100, 513, "Message Too Large"},
      {invite().noContentLength().add("Content-Length: 90").str(), 400, 513, "Message Too Large"},
  };
  for (const Case& c : cases) {
    auto len = sipFrameLength(c.buf, c.maxSize);
    ASSERT_FALSE(len) << c.reason;
    EXPECT_EQ(len.error().reason, c.reason);
    EXPECT_EQ(len.error().status, c.status);
  }
}

}  // namespace
}  // namespace rdv::sip
