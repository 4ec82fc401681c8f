// buildResponse (RFC 3261 §8.2.6) and the lenient 400 builder for bytes that did not parse.

#include "signaling/sip/SipResponse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/sip/SipBadRequest.h"
#include "signaling/sip/SipMessage.h"
#include "signaling/sip/Via.h"
#include "signaling/sip/test/SipTestMessages.h"

namespace rdv::sip {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared test messages

// ---- Responses ----

TEST(BuildResponse, CopiesViasInOrderAndTheDialogHeaders) {
  auto req = SipMessage::parse(kMultiplePerLine);  // three Vias on two lines
  ASSERT_TRUE(req);
  const std::string text = buildResponse(*req, 200, "OK", "srv1");
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << resp.error().reason << "\n" << text;
  EXPECT_EQ(resp->status(), 200);
  EXPECT_EQ(resp->reason(), "OK");
  EXPECT_EQ(resp->headerList("Via"), req->headerList("Via"));
  EXPECT_EQ(resp->callId(), req->callId());
  EXPECT_EQ(resp->cseq(), 2U);
  EXPECT_EQ(resp->cseqMethod(), SipMethod::Register);
  EXPECT_EQ(resp->fromTag(), "r1");
  EXPECT_EQ(resp->toTag(), "srv1");
  EXPECT_EQ(resp->header("Contact"), "");
  EXPECT_EQ(resp->body(), "");
  EXPECT_TRUE(text.ends_with("Content-Length: 0\r\n\r\n"));
}

TEST(BuildResponse, AddsAToTagOnlyWhenMissingAndNotTo100) {
  auto req = SipMessage::parse(invite().str());
  ASSERT_TRUE(req);
  EXPECT_EQ(SipMessage::parse(buildResponse(*req, 100, "Trying", "t1"))->toTag(), "");
  EXPECT_EQ(SipMessage::parse(buildResponse(*req, 180, "Ringing", "t1"))->toTag(), "t1");
  EXPECT_EQ(SipMessage::parse(buildResponse(*req, 486, "Busy Here"))->toTag(), "");
  auto inDialog =
      SipMessage::parse(invite().drop("To").add("To: Bob <sip:bob@biloxi.example.com>;tag=old").str());
  ASSERT_TRUE(inDialog);
  const std::string text = buildResponse(*inDialog, 200, "OK", "new");
  EXPECT_EQ(SipMessage::parse(text)->toTag(), "old");
  EXPECT_EQ(text.find("new"), std::string::npos);
}

TEST(BuildResponse, AppendsExtraHeadersContentTypeAndBody) {
  auto req = SipMessage::parse(invite().body(std::string(kSdp)).str());
  ASSERT_TRUE(req);
  const std::vector<std::string> extra{"Contact: <sip:b2bua@203.0.113.1>", "Allow: INVITE, ACK, BYE"};
  const std::string text = buildResponse(*req, 200, "OK", "x", extra, kSdp, "application/sdp");
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << resp.error().reason;
  EXPECT_EQ(resp->header("Contact"), "<sip:b2bua@203.0.113.1>");
  EXPECT_EQ(resp->headerList("Allow").size(), 3U);
  EXPECT_EQ(resp->header("Content-Type"), "application/sdp");
  EXPECT_EQ(resp->body(), kSdp);
  EXPECT_LT(text.find("Allow:"), text.find("Content-Type:"));
  EXPECT_LT(text.find("Content-Type:"), text.find("Content-Length:"));
}

TEST(BuildResponse, FlattensFoldsOfCopiedValues) {
  auto req = SipMessage::parse(kTortuousInvite);
  ASSERT_TRUE(req);
  const std::string text = buildResponse(*req, 481, "Call/Transaction Does Not Exist", "abc");
  EXPECT_TRUE(text.starts_with("SIP/2.0 481 Call/Transaction Does Not Exist\r\n"));
  EXPECT_NE(text.find("CSeq: 0007  INVITE\r\n"), std::string::npos);
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << resp.error().reason;
  EXPECT_EQ(resp->headerList("Via").size(), 3U);
  EXPECT_EQ(resp->toTag(), "77aa19x");
  for (const SipHeader& h : resp->headers()) {
    EXPECT_EQ(h.value.find('\n'), std::string_view::npos) << h.name;
  }
}

TEST(BuildResponse, StampsReceivedAndRportOnTheTopViaWhenTheSourceIsKnown) {
  auto req = SipMessage::parse(kMultiplePerLine);
  ASSERT_TRUE(req);
  auto rport = SipMessage::parse(invite().str());  // top Via has ;rport
  ASSERT_TRUE(rport);
  rport->setSource("198.51.100.7", 40123);
  auto stampedResp = SipMessage::parse(buildResponse(*rport, 200, "OK", "t"));
  ASSERT_TRUE(stampedResp);
  auto stamped = Via::parse(stampedResp->headerList("Via")[0]);
  ASSERT_TRUE(stamped);
  EXPECT_EQ(stamped->rport, 40123);
  EXPECT_EQ(stamped->received, "198.51.100.7");
  EXPECT_EQ(stamped->branch, "z9hG4bK776asdhds");

  // No rport and a sent-by that matches the source: nothing to add (RFC 3261 §18.2.1).
  req->setSource("192.0.2.1", 5060);
  auto resp = SipMessage::parse(buildResponse(*req, 200, "OK", "t"));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->headerList("Via"), req->headerList("Via"));
  // A different source: received, and only on the top element.
  req->setSource("203.0.113.50", 5060);
  resp = SipMessage::parse(buildResponse(*req, 200, "OK", "t"));
  ASSERT_TRUE(resp);
  const auto vias = resp->headerList("Via");
  ASSERT_EQ(vias.size(), 3U);
  EXPECT_EQ(vias[0], "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1;received=203.0.113.50");
  EXPECT_EQ(vias[1], req->headerList("Via")[1]);
  EXPECT_FALSE(Via::parse(vias[0])->hasRport);
}

TEST(BuildBadRequest, AnswersWithTheHeadersFoundLenientlyAndADeterministicToTag) {
  const std::string raw = invite().noContentLength().add("Content-Length: -5").str();
  ASSERT_FALSE(SipMessage::parse(raw));
  const std::string text = buildBadRequest(raw, "Malformed Content-Length header");
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << text;
  EXPECT_EQ(resp->status(), 400);
  EXPECT_EQ(resp->reason(), "Malformed Content-Length header");
  EXPECT_EQ(resp->topViaBranch(), "z9hG4bK776asdhds");
  EXPECT_EQ(resp->callId(), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(resp->fromTag(), "1928301774");
  EXPECT_FALSE(resp->toTag().empty());
  EXPECT_EQ(buildBadRequest(raw, "Malformed Content-Length header"), text);  // retransmissions match
}

TEST(BuildBadRequest, KeepsAnExistingToTagAndUsesTheErrorStatus) {
  const std::string raw = invite("INVITE sip:bob@biloxi.example.com SIP/7.0")
                              .drop("To")
                              .add("To: <sip:bob@biloxi.example.com>;tag=dlg1")
                              .str();
  auto parsed = SipMessage::parse(raw);
  ASSERT_FALSE(parsed);
  auto resp = SipMessage::parse(buildBadRequest(raw, parsed.error()));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->status(), 505);
  EXPECT_EQ(resp->reason(), "Version Not Supported");
  EXPECT_EQ(resp->toTag(), "dlg1");
}

TEST(BuildBadRequest, FindsFoldedAndCompactHeaders) {
  const std::string raw = crlf(
      "INVITE sip:x@example.com SIP/2.0\n"
      "v: SIP/2.0/UDP\n 192.0.2.1;branch=z9hG4bKf\n"
      "f: <sip:a@example.com>;tag=1\n"
      "t: <sip:x@example.com>\n"
      "i: fold@x\n"
      "CSeq: 1 INVITE\n"
      "l: abc\n"
      "\n");
  auto resp = SipMessage::parse(buildBadRequest(raw, "Malformed Content-Length header"));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->topViaBranch(), "z9hG4bKf");
  EXPECT_EQ(resp->callId(), "fold@x");
}

// A request that names where its response goes (Via) gets a 400 even when other mandatory
// headers are missing: the reason phrase tells the sender what to fix.
TEST(BuildBadRequest, AnswersARequestMissingCallIdThroughItsVia) {
  std::string r = buildBadRequest(invite().drop("Call-ID").str(), "Missing Call-ID header");
  EXPECT_EQ(r.rfind("SIP/2.0 400 Missing Call-ID header\r\n", 0), 0U) << r;
  EXPECT_NE(r.find("Via: SIP/2.0/UDP pc33.atlanta.example.com"), std::string::npos);
  EXPECT_EQ(r.find("\r\nCall-ID:"), std::string::npos);
}

TEST(BuildBadRequest, GivesUpWhenViaIsMissingOrTheBytesAreAResponse) {
  EXPECT_EQ(buildBadRequest("", "Empty message"), "");
  EXPECT_EQ(buildBadRequest("\r\n\r\n", "Keep-alive only"), "");
  EXPECT_EQ(buildBadRequest(invite().drop("Via").str(), "Missing Via header"), "");
  EXPECT_EQ(buildBadRequest(okResponse().add("Content-Length: x").str(), "Malformed Content-Length header"),
            "");
  std::string nul = invite().str();
  nul.insert(nul.find("a84b4c76"), 1, '\0');
  EXPECT_EQ(buildBadRequest(nul, "NUL byte in message header"), "");
}

}  // namespace
}  // namespace rdv::sip
