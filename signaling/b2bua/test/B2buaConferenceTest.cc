// Conference URIs answered by the B2BUA itself (B2buaConference.cc, ConferenceSdp): the offer
// negotiated in the caller's order, the join request the conference service gets, its refusals
// mapped to SIP statuses, and the dialog ended from either side with a call record.

#include <gtest/gtest.h>

#include <optional>
#include <utility>

#include "media/srtp/SdesCrypto.h"
#include "signaling/anchor/SrtpMedia.h"
#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

constexpr mixer::ParticipantId kFirstId = 7;
constexpr uint16_t kMixPort = 30000;

// Records what signalling asks; joins succeed on 127.0.0.1:30000 unless `refusal` is set.
class FakeConferences : public mixer::Conferences {
 public:
  Expected<mixer::JoinResult, mixer::JoinError> join(const mixer::JoinRequest& req) override {
    joins.push_back(req);
    if (refusal) return Unexpected(*refusal);
    return mixer::JoinResult{nextId++, addr("127.0.0.1", kMixPort), false};
  }
  bool leave(mixer::ParticipantId id, mixer::LeaveReason reason) override {
    leaves.emplace_back(id, reason);
    return true;
  }
  void setOnLeft(std::function<void(mixer::ParticipantId, mixer::LeaveReason)> fn) override {
    onLeft = std::move(fn);
  }

  std::vector<mixer::JoinRequest> joins;
  std::vector<std::pair<mixer::ParticipantId, mixer::LeaveReason>> leaves;
  std::optional<mixer::JoinError> refusal;
  std::function<void(mixer::ParticipantId, mixer::LeaveReason)> onLeft;
  mixer::ParticipantId nextId = kFirstId;
};

// An offer from alice's media address with the given m= formats and extra media lines.
std::string offerLf(std::string_view formats, std::string_view extraLines = {}) {
  return fmt::format(
      "v=0\no=- 7 7 IN IP4 198.18.0.2\ns=-\nc=IN IP4 198.18.0.2\nt=0 0\n"
      "m=audio 40000 RTP/AVP {}\n{}",
      formats, extraLines);
}

class B2buaConferenceTest : public B2buaCallTest {
 protected:
  ~B2buaConferenceTest() override { b2b_.reset(); }  // before conferences_, which it points to

  B2bua& withConferences() {
    b2b().setConferences(&conferences_);
    b2b().setOnCallEnded([this](CallRecord&& r) { records_.push_back(std::move(r)); });
    return b2b();
  }
  // Alice INVITEs `user` with `sdp` (Call-ID call-1, then call-2, ...); returns the final response
  // she got (after 100 Trying).
  sip::SipMessage inviteConference(std::string_view sdp, std::string_view user = "conf-test") {
    receive(inviteLf(fmt::format("call-{}", ++invites_), user, sdp), alice_);
    auto sent = take();
    EXPECT_EQ(sent.size(), 2U);
    if (sent.size() < 2) throw std::runtime_error("no final response");
    EXPECT_EQ(party(sent[1].to), "alice");
    return parsedSent(sent[1]);
  }
  // Joins alice to room "test" with a PCMU offer and ACKs the 200: her dialog with us.
  Dialogs joinAndAck() {
    auto ok = inviteConference(offerLf("0"));
    EXPECT_EQ(ok.status(), 200);
    Dialogs d;
    d.aTag = std::string(ok.toTag());
    receive(fromAliceLf(d, "ACK", 1), alice_);
    EXPECT_TRUE(take().empty());
    return d;
  }
  // Which of `lines` the body of `m` lacks.
  static Lines missingLines(const sip::SipMessage& m, const Lines& lines) {
    Lines out;
    for (const auto& l : lines) {
      if (m.body().find(l + "\r\n") == std::string_view::npos) out.push_back(l);
    }
    return out;
  }
  static bool hasLine(const sip::SipMessage& m, std::string_view line) {
    return missingLines(m, Lines{std::string(line)}).empty();
  }

  FakeConferences conferences_;
  std::vector<CallRecord> records_;
  int invites_ = 0;
};

TEST_F(B2buaConferenceTest, ChoosesTheFirstCommonCodecInTheCallersOrder) {
  withConferences();
  auto ok = inviteConference(offerLf("8 0 111", "a=rtpmap:111 opus/48000/2\n"));
  ASSERT_EQ(ok.status(), 200);
  ASSERT_EQ(conferences_.joins.size(), 1U);
  const mixer::JoinRequest& j = conferences_.joins[0];
  EXPECT_EQ(j.room, "test");
  EXPECT_EQ(j.label, "sip:alice@example.com");
  EXPECT_EQ(j.codec, media::CodecId::Pcma);
  EXPECT_EQ(j.payloadType, 8);
  EXPECT_EQ(j.dtmfPayloadType, 0);
  EXPECT_FALSE(j.rtcpMux);
  EXPECT_EQ(j.rtp, addr("198.18.0.2", 40000));
  EXPECT_EQ(ok.header("Content-Type"), "application/sdp");
  EXPECT_EQ(ok.header("Contact"), "<sip:rendezvous@127.0.0.1:5060>");
  EXPECT_FALSE(ok.toTag().empty());
  EXPECT_EQ(mediaTarget(ok).ip, "127.0.0.1");
  EXPECT_EQ(mediaTarget(ok).port, kMixPort);
  EXPECT_EQ(missingLines(ok, {"m=audio 30000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000", "a=ptime:20", "a=sendrecv"}),
            Lines{});
  EXPECT_FALSE(hasLine(ok, "a=rtcp-mux"));
  EXPECT_EQ(b2b().counters().conferenceJoins.get(), 1U);
}

TEST_F(B2buaConferenceTest, OpusAnswerHasInbandFecAndCarriesDtmfRtcpMuxAndAudioLevel) {
  withConferences();
  auto ok = inviteConference(offerLf("111 0 101",
                                     "a=rtpmap:111 OPUS/48000/2\na=rtpmap:101 telephone-event/8000\n"
                                     "a=fmtp:101 0-16\na=rtcp-mux\n"
                                     "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\n"));
  ASSERT_EQ(ok.status(), 200);
  ASSERT_EQ(conferences_.joins.size(), 1U);
  const mixer::JoinRequest& j = conferences_.joins[0];
  EXPECT_EQ(j.codec, media::CodecId::Opus);
  EXPECT_EQ(j.payloadType, 111);
  EXPECT_EQ(j.dtmfPayloadType, 101);
  EXPECT_EQ(j.audioLevelExtId, 3);
  EXPECT_TRUE(j.rtcpMux);
  EXPECT_EQ(
      missingLines(ok, {"m=audio 30000 RTP/AVP 111 101", "a=rtpmap:111 opus/48000/2",
                        "a=fmtp:111 useinbandfec=1", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
                        "a=rtcp-mux", "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level"}),
      Lines{});
}

TEST_F(B2buaConferenceTest, OtherStreamsAreRejectedInTheAnswerAndHoldIsAnsweredRecvonly) {
  withConferences();
  auto ok = inviteConference(offerLf("9", "a=sendonly\nm=video 40002 RTP/AVP 96\na=rtpmap:96 VP8/90000\n"));
  ASSERT_EQ(ok.status(), 200);
  EXPECT_EQ(conferences_.joins.at(0).codec, media::CodecId::G722);
  EXPECT_EQ(missingLines(ok, {"a=rtpmap:9 G722/8000", "a=recvonly", "m=video 0 RTP/AVP 96"}), Lines{});
}

TEST_F(B2buaConferenceTest, NoCommonCodecOrNoSdpIs488WithAWarning) {
  withConferences();
  auto g729 = inviteConference(offerLf("18", "a=rtpmap:18 G729/8000\n"));
  EXPECT_EQ(g729.status(), 488);
  EXPECT_NE(g729.header("Warning").find("no common codec"), std::string_view::npos);
  EXPECT_EQ(inviteConference("").status(), 488);
  EXPECT_TRUE(conferences_.joins.empty());
  EXPECT_EQ(b2b().counters().conferenceRejected.get(), 2U);
}

TEST_F(B2buaConferenceTest, BadRoomNamesAre404) {
  withConferences();
  EXPECT_EQ(inviteConference(offerLf("0"), "conf-").status(), 404);
  EXPECT_EQ(inviteConference(offerLf("0"), "conf-a!b").status(), 404);
  EXPECT_EQ(inviteConference(offerLf("0"), "conf-" + std::string(65, 'r')).status(), 404);
  EXPECT_TRUE(conferences_.joins.empty());
}

TEST_F(B2buaConferenceTest, JoinErrorsAreMappedToStatuses) {
  withConferences();
  conferences_.refusal = mixer::JoinError{mixer::JoinErrorCode::Locked, "locked"};
  auto locked = inviteConference(offerLf("0"));
  EXPECT_EQ(locked.status(), 403);
  EXPECT_EQ(locked.reason(), "Conference locked");
  conferences_.refusal = mixer::JoinError{mixer::JoinErrorCode::Full, "10 participants"};
  EXPECT_EQ(inviteConference(offerLf("0")).status(), 486);
  conferences_.refusal = mixer::JoinError{mixer::JoinErrorCode::NotFound, "no room"};
  EXPECT_EQ(inviteConference(offerLf("0")).status(), 404);
  conferences_.refusal = mixer::JoinError{mixer::JoinErrorCode::NoMedia, "no ports"};
  EXPECT_EQ(inviteConference(offerLf("0")).status(), 503);
  EXPECT_EQ(b2b().conferenceParticipants(), 0U);
}

TEST_F(B2buaConferenceTest, ByeLeavesWithHangupIsAnsweredAndRecorded) {
  withConferences();
  Dialogs d = joinAndAck();
  clock_.advanceNs(3'000'000'000);
  receive(fromAliceLf(d, "BYE", 2), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 200 OK"});
  ASSERT_EQ(conferences_.leaves.size(), 1U);
  EXPECT_EQ(conferences_.leaves[0], std::make_pair(kFirstId, mixer::LeaveReason::Hangup));
  EXPECT_EQ(b2b().conferenceParticipants(), 0U);
  ASSERT_EQ(records_.size(), 1U);
  EXPECT_EQ(records_[0].callId, "call-1");
  EXPECT_EQ(records_[0].caller, "Alice <sip:alice@example.com>");
  EXPECT_EQ(records_[0].callee, "<sip:conf-test@127.0.0.1>");
  EXPECT_EQ(records_[0].reason, EndReason::CallerBye);
  EXPECT_EQ(records_[0].status, 200);
  EXPECT_EQ(records_[0].endUnixMs - records_[0].answerUnixMs, 3'000U);
  receive(fromAliceLf(d, "BYE", 3), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 481 Call/Transaction Does Not Exist"});
}

TEST_F(B2buaConferenceTest, LeftForMediaTimeoutSendsByeToTheCallersSource) {
  withConferences();
  std::string invite = inviteLf("call-1", "conf-test", offerLf("0"));
  invite.replace(invite.find(kAliceContact), kAliceContact.size(), "sip:alice@10.0.0.2:5070");
  receive(invite, alice_);
  take();
  ASSERT_TRUE(conferences_.onLeft);
  conferences_.onLeft(kFirstId, mixer::LeaveReason::MediaTimeout);
  auto bye = takeOnly("alice: BYE sip:alice@10.0.0.2:5070 SIP/2.0");
  EXPECT_EQ(bye.callId(), "call-1");
  EXPECT_EQ(bye.fromTag().empty(), false);
  EXPECT_TRUE(conferences_.leaves.empty()) << "the service let it go already";
  ASSERT_EQ(records_.size(), 1U);
  EXPECT_EQ(records_[0].reason, EndReason::MediaTimeout);
  conferences_.onLeft(kFirstId, mixer::LeaveReason::MediaTimeout);
  EXPECT_TRUE(take().empty());
}

TEST_F(B2buaConferenceTest, ReInviteGetsTheSameAnswerWithTheVersionBumped) {
  withConferences();
  Dialogs d = joinAndAck();
  receive(fromAliceLf(d, "INVITE", 2, offerLf("0")), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 200 OK"}));
  auto ok = parsedSent(sent[1]);
  EXPECT_NE(ok.body().find(" 2 IN IP4 127.0.0.1\r\n"), std::string_view::npos) << ok.body();
  EXPECT_EQ(mediaTarget(ok).port, kMixPort);
  receive(fromAliceLf(d, "ACK", 2), alice_);
  receive(fromAliceLf(d, "INVITE", 3, offerLf("8")), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_EQ(conferences_.joins.size(), 1U);
}

TEST_F(B2buaConferenceTest, SrtpCallerJoinsWithItsKeysOnTheRelayLegAndMustKeepThemOnReInvite) {
  withConferences();
  const std::string key = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
  std::string savp = offerLf("0", "a=crypto:" + key + "\n");
  savp.replace(savp.find("RTP/AVP"), 7, "RTP/SAVP");
  auto ok = inviteConference(savp);
  ASSERT_EQ(ok.status(), 200);
  auto answer = sdp::SdpSession::parse(ok.body());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->media[0].proto, "RTP/SAVP");
  auto ours = answer->media[0].attribute("crypto");
  ASSERT_TRUE(ours.has_value());
  EXPECT_TRUE(ours->starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:"));
  ASSERT_EQ(conferences_.joins.size(), 1U);
  const relay::LegCrypto& c = conferences_.joins[0].crypto;
  EXPECT_TRUE(c.terminates()) << "the relay decrypts before the mixer";
  EXPECT_EQ(c.recv, *anchor::toSrtpKeys(*srtp::SdesCrypto::parse(key)));
  EXPECT_EQ(c.send, *anchor::toSrtpKeys(*srtp::SdesCrypto::parse(*ours)));

  Dialogs d;
  d.aTag = std::string(ok.toTag());
  receive(fromAliceLf(d, "ACK", 1), alice_);
  receive(fromAliceLf(d, "INVITE", 2, savp), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(sdp::SdpSession::parse(parsedSent(sent[1]).body())->media[0].attribute("crypto"), *ours);
  receive(fromAliceLf(d, "ACK", 2), alice_);
  std::string rekeyed = savp;
  rekeyed.replace(rekeyed.find("inline:") + 7, 4, "AAAA");
  receive(fromAliceLf(d, "INVITE", 3, rekeyed), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 488 Not Acceptable Here"}));
}

TEST_F(B2buaConferenceTest, OptionsAndInfoInTheDialogAreAnsweredHere) {
  withConferences();
  Dialogs d = joinAndAck();
  receive(fromAliceLf(d, "OPTIONS", 2), alice_);
  receive(fromAliceLf(d, "INFO", 3), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 200 OK", "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(b2b().conferenceParticipants(), 1U);
}

TEST_F(B2buaConferenceTest, AuthenticationAndDrainApplyAsToCalls) {
  cfg_.authInvite = 1;
  withConferences();
  EXPECT_EQ(inviteConference(offerLf("0")).status(), 407);
  cfg_.authInvite = 0;
  b2b().applyLive(cfg_);
  b2b().setDraining(true);
  EXPECT_EQ(inviteConference(offerLf("0")).status(), 503);
  EXPECT_TRUE(conferences_.joins.empty());
}

TEST_F(B2buaConferenceTest, OtherInvitesStillRouteToUsers) {
  withConferences();
  registerBob();
  inviteBob("call-2");
  EXPECT_TRUE(conferences_.joins.empty());
  EXPECT_EQ(b2b().activeCalls(), 1U);
}

}  // namespace
}  // namespace rdv::b2bua::test
