// Option parsing: the dictionary, the flags list and Kamailio's rtpp-flags string all reach the
// same AnchorOptions, with rtpengine's name matching.

#include "signaling/ng/NgOptions.h"

#include <gtest/gtest.h>

namespace rdv::ng {
namespace {

BValue words(std::initializer_list<const char*> ws) {
  BValue l = BValue::list();
  for (const char* w : ws) l.push(BValue::string(w));
  return l;
}

TEST(NgOptions, RtppFlagsSplitIntoFlagsKeysAndBracketedLists) {
  auto f = splitRtppFlags("  replace-origin ICE=remove rtcp-mux=[offer  require] codec-strip=[] label=x=y trust-address");
  ASSERT_EQ(f.size(), 6U);
  EXPECT_EQ(f[0].key, "");
  EXPECT_EQ(f[0].value.asString(), "replace-origin");
  EXPECT_EQ(f[1].key, "ICE");
  EXPECT_EQ(f[1].value.asString(), "remove");
  EXPECT_EQ(f[2].key, "rtcp-mux");
  EXPECT_EQ(f[2].value, words({"offer", "require"}));
  EXPECT_EQ(f[3].key, "codec-strip");
  EXPECT_EQ(f[3].value, BValue::list());
  EXPECT_EQ(f[4].key, "label");
  EXPECT_EQ(f[4].value.asString(), "x=y");
  EXPECT_EQ(f[5].value.asString(), "trust-address");
  EXPECT_EQ(splitRtppFlags("rtcp-mux=[offer").at(0).value, words({"offer"})) << "unterminated list";
  EXPECT_TRUE(splitRtppFlags("   ").empty());
}

TEST(NgOptions, DictionaryFlagsAndRtppFlagsReachTheSameOptions) {
  BValue dict = BValue::dict();
  dict.set("command", BValue::string("offer")).set("call-id", BValue::string("c")).set("from-tag", BValue::string("a"));
  dict.set("replace", words({"origin", "session connection"}));
  dict.set("rtcp-mux", words({"demux"}));
  dict.set("received-from", words({"IP4", "192.0.2.1"}));
  dict.set("flags", words({"SIP source address", "strict-source", "port-latching", "generate-mid"}));
  dict.set("via-branch", BValue::string("z9"));
  dict.set("to-label", BValue::string("callee"));
  dict.set("supports", words({"load limit"}));
  dict.set("delete-delay", BValue::string("0"));
  const NgOptions a = parseNgOptions(dict);

  BValue rtpp = BValue::dict();
  rtpp.set("command", BValue::string("offer")).set("call-id", BValue::string("c")).set("from-tag", BValue::string("a"));
  rtpp.set("rtpp-flags", BValue::string("replace-origin replace-session-connection rtcp-mux-demux "
                                        "received-from=[IP4 192.0.2.1] SIP-source-address strict-source "
                                        "port-latching generate-mid via-branch=z9 to-label=callee "
                                        "supports=[load limit] delete-delay=0"));
  const NgOptions b = parseNgOptions(rtpp);
  for (const NgOptions* o : {&a, &b}) {
    EXPECT_EQ(o->callId, "c");
    EXPECT_EQ(o->fromTag, "a");
    EXPECT_TRUE(o->anchor.replaceOrigin);
    EXPECT_TRUE(o->anchor.muxDemux);
    EXPECT_TRUE(o->anchor.sipSourceAddress);
    EXPECT_EQ(o->anchor.receivedFrom, "192.0.2.1");
    EXPECT_TRUE(o->anchor.strictSource);
    EXPECT_TRUE(o->anchor.generateMid);
    EXPECT_EQ(o->anchor.viaBranch, "z9");
    EXPECT_EQ(o->anchor.otherLabel, "callee");
    EXPECT_EQ(o->deleteDelay, 0);
    EXPECT_TRUE(o->unknown.empty()) << o->unknown.front();
  }
  EXPECT_TRUE(a.supportsLoadLimit);
  EXPECT_TRUE(b.supportsLoadLimit);
}

TEST(NgOptions, LaterSourcesOverrideAndUnknownNamesAreReported) {
  BValue d = BValue::dict();
  d.set("command", BValue::string("answer")).set("call-id", BValue::string("c"));
  d.set("flags", words({"asymmetric", "loop-protect"}));
  d.set("rtpp-flags", BValue::string("symmetric from-tag=ft to-tag=tt ICE=force rtcp-mux=[sideways] fatal"));
  d.set("wibble", BValue::integer(1));
  const NgOptions o = parseNgOptions(d);
  EXPECT_FALSE(o.anchor.asymmetric) << "rtpp-flags come after the flags list";
  EXPECT_EQ(o.fromTag, "ft");
  EXPECT_EQ(o.toTag, "tt");
  EXPECT_TRUE(o.fatal);
  EXPECT_EQ(o.unknown, (std::vector<std::string>{"key wibble", "flag loop-protect", "rtcp-mux sideways"}));
  EXPECT_TRUE(o.unsupported.empty()) << "ICE=force is understood";
  EXPECT_EQ(o.anchor.webrtc.ice, anchor::IcePolicy::Force);
}

TEST(NgOptions, RtcpMuxWordsAndRecordCall) {
  BValue d = BValue::dict();
  d.set("rtcp-mux", words({"offer", "require", "reject", "accept"}));
  d.set("record call", BValue::string("yes"));
  d.set("flags", words({"no-rtcp-attribute"}));
  const NgOptions o = parseNgOptions(d);
  EXPECT_TRUE(o.anchor.muxOffer);
  EXPECT_TRUE(o.anchor.muxRequire);
  EXPECT_TRUE(o.anchor.muxReject);
  EXPECT_TRUE(o.anchor.noRtcpAttribute);
  EXPECT_TRUE(o.recordCall);
  EXPECT_TRUE(o.unknown.empty());
}

TEST(NgOptions, TransportProtocolConvertsTheReceiversSide) {
  BValue d = BValue::dict();
  EXPECT_EQ(parseNgOptions(d).anchor.srtp.receiver, anchor::SrtpPolicy::Passthrough) << "nothing asked: untouched";
  EXPECT_FALSE(parseNgOptions(d).anchor.srtp.osrtpAccept) << "OSRTP offers are SRTP only with OSRTP-accept";
  d.set("transport-protocol", BValue::string("RTP/AVP"));
  auto o = parseNgOptions(d);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Never);
  EXPECT_EQ(o.anchor.srtp.sender, anchor::SrtpPolicy::Passthrough);
  EXPECT_EQ(o.anchor.srtp.receiverFeedback, false);
  d.set("transport-protocol", BValue::string("RTP/SAVPF"));
  o = parseNgOptions(d);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Require);
  EXPECT_EQ(o.anchor.srtp.receiverFeedback, true);
  EXPECT_TRUE(o.srtpError.empty());
  d.set("OSRTP", words({"offer"}));
  EXPECT_EQ(parseNgOptions(d).anchor.srtp.receiver, anchor::SrtpPolicy::Offer) << "SRTP offered as RTP/AVPF + a=crypto";
  // Kamailio's rtpp-flags carry the protocol as a flag word.
  BValue k = BValue::dict();
  k.set("rtpp-flags", BValue::string("replace-origin RTP/SAVP OSRTP-accept"));
  o = parseNgOptions(k);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Require);
  EXPECT_TRUE(o.anchor.srtp.osrtpAccept);
  EXPECT_TRUE(o.unknown.empty());
}

TEST(NgOptions, OsrtpFlagsAloneOfferOrAcceptOpportunisticSrtp) {
  BValue d = BValue::dict();
  d.set("flags", words({"OSRTP-offer"}));
  EXPECT_EQ(parseNgOptions(d).anchor.srtp.receiver, anchor::SrtpPolicy::Offer);
  d.set("flags", words({"OSRTP-accept"}));
  auto o = parseNgOptions(d);
  EXPECT_TRUE(o.anchor.srtp.osrtpAccept);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Never) << "accepted OSRTP goes on as plain RTP";
}

TEST(NgOptions, SdesFlagsRestrictSuitesOrTurnSdesOff) {
  BValue d = BValue::dict();
  d.set("transport-protocol", BValue::string("RTP/SAVP"));
  d.set("flags", words({"SDES-no-AES_CM_128_HMAC_SHA1_32", "SDES-no-AES_256_CM_HMAC_SHA1_80", "SDES-only"}));
  auto o = parseNgOptions(d);
  EXPECT_EQ(o.anchor.srtp.suites, anchor::kAllSuites & ~anchor::suiteBit(srtp::Suite::AesCm128HmacSha1_32));
  EXPECT_TRUE(o.unsupported.empty());
  d.set("SDES", words({"only-AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80", "pad"}));
  o = parseNgOptions(d);
  EXPECT_EQ(o.anchor.srtp.suites, anchor::suiteBit(srtp::Suite::AeadAes128Gcm) | anchor::suiteBit(srtp::Suite::AesCm128HmacSha1_80));
  EXPECT_EQ(o.unsupported, (std::vector<std::string>{"SDES-pad"}));

  BValue off = BValue::dict();
  off.set("flags", words({"SDES-off"}));
  EXPECT_EQ(parseNgOptions(off).anchor.srtp.receiver, anchor::SrtpPolicy::Never) << "no a=crypto towards the receiver";
  off.set("transport-protocol", BValue::string("RTP/SAVP"));
  EXPECT_EQ(parseNgOptions(off).anchor.srtp.receiver, anchor::SrtpPolicy::Dtls) << "SRTP without SDES is DTLS";
  off.set("DTLS", BValue::string("off"));
  EXPECT_FALSE(parseNgOptions(off).srtpError.empty()) << "no keying left";
}

TEST(NgOptions, WebrtcGatewayFlagsGiveTheReceiverADtlsLegWithIceLite) {
  BValue d = BValue::dict();
  d.set("rtpp-flags", BValue::string("ICE=force RTP/SAVPF DTLS=passive"));
  auto o = parseNgOptions(d);
  EXPECT_TRUE(o.srtpError.empty()) << o.srtpError;
  EXPECT_TRUE(o.unsupported.empty());
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Dtls);
  EXPECT_EQ(o.anchor.srtp.receiverFeedback, true);
  EXPECT_EQ(o.anchor.webrtc.ice, anchor::IcePolicy::Force);
  EXPECT_EQ(o.anchor.webrtc.role, relay::DtlsRole::Passive);

  BValue t = BValue::dict();
  t.set("transport-protocol", BValue::string("UDP/TLS/RTP/SAVPF"));
  t.set("ICE", BValue::string("force-relay"));
  o = parseNgOptions(t);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Dtls);
  EXPECT_EQ(o.anchor.webrtc.ice, anchor::IcePolicy::Force);
  EXPECT_FALSE(o.anchor.webrtc.role.has_value());
  t.set("DTLS", BValue::string("off"));
  EXPECT_NE(parseNgOptions(t).srtpError.find("DTLS=off"), std::string::npos);

  BValue plain = BValue::dict();
  plain.set("rtpp-flags", BValue::string("ICE=remove RTP/AVP"));
  o = parseNgOptions(plain);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Never);
  EXPECT_EQ(o.anchor.webrtc.ice, anchor::IcePolicy::Remove);
  EXPECT_TRUE(o.unsupported.empty());

  BValue sdes = BValue::dict();
  sdes.set("transport-protocol", BValue::string("RTP/SAVP"));
  sdes.set("flags", words({"DTLS-active", "ICE-optional"}));
  o = parseNgOptions(sdes);
  EXPECT_EQ(o.anchor.srtp.receiver, anchor::SrtpPolicy::Dtls);
  EXPECT_EQ(o.anchor.webrtc.role, relay::DtlsRole::Active);
  EXPECT_EQ(o.unsupported, std::vector<std::string>{"ICE=optional"});
  BValue noDtls = BValue::dict();
  noDtls.set("transport-protocol", BValue::string("RTP/SAVP"));
  EXPECT_EQ(parseNgOptions(noDtls).anchor.srtp.receiver, anchor::SrtpPolicy::Require) << "SDES, as before";
}

}  // namespace
}  // namespace rdv::ng
