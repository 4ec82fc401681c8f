// libFuzzer target for relay::demuxMedia (RFC 7983 §7), the first decision on every datagram of a
// WebRTC leg: arbitrary bytes must land in the class whose parser accepts them. A datagram that
// parses as a STUN message of a method in use demultiplexes as STUN, one that parses as RTP or as
// an RTCP header as RTP, and none parses as both (the DTLS records themselves are fuzzed by the
// DTLS target). The same bytes go through the BUNDLE demultiplexer's RTCP feedback scan
// and RFC 8285 header extension reader (relay/BundleDemux.h): they stay inside the datagram, the
// scan finds an SSRC only in a packet that holds one, and a demultiplexer fed the datagram's RTP
// fields (and MID extension) never names a slot it does not have.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/RtcpPacket.h"
#include "media/RtpPacket.h"
#include "relay/BundleDemux.h"
#include "relay/LegWebrtc.h"
#include "relay/stun/StunMessage.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  if (input.empty()) return 0;
  const rdv::relay::MediaDemux kind = rdv::relay::demuxMedia(input[0]);
  const auto stun = rdv::stun::StunView::parse(input);
  const bool rtp = rdv::media::RtpView::parse(input).has_value() || rdv::media::parseRtcpHeader(input).has_value();
  // RFC 7983 gives STUN the first bytes 0..3: enough for every method up to 0xFF (the method's top
  // five bits share the first byte with a class bit), which covers STUN, TURN and ICE.
  check(!stun || stun->method() > 0xFF || kind == rdv::relay::MediaDemux::Stun);
  check(!rtp || kind == rdv::relay::MediaDemux::Rtp);
  check(!(stun && rtp));  // STUN's first two bits are 0, RTP's version is 2
  // RFC 8285 header extensions: any element found lies inside the datagram.
  for (unsigned id : {1U, 4U, 14U, 15U, 200U}) {
    const auto ext = rdv::relay::BundleDemux::headerExtension(input, static_cast<uint8_t>(id));
    check(!ext || (ext->data() >= input.data() && ext->data() + ext->size() <= input.data() + input.size()));
  }
  const auto fb = rdv::relay::BundleDemux::feedbackMediaSsrc(input);
  check(!fb || size >= 12);
  if (size >= 12) {
    rdv::relay::BundleDemux demux;
    rdv::relay::PayloadTypeSet pts;
    pts.add(data[1] & 0x7F);
    demux.setPayloadTypes(data[2] % rdv::relay::BundleDemux::kMaxSlots, pts);
    demux.setMid(data[3] % rdv::relay::BundleDemux::kMaxSlots, "1", data[4]);
    const uint32_t ssrc = (uint32_t{data[8]} << 24) | (uint32_t{data[9]} << 16) | (uint32_t{data[10]} << 8) | data[11];
    const auto slot = demux.rtp(ssrc, data[1] & 0x7F, input);
    check(slot && *slot < rdv::relay::BundleDemux::kMaxSlots && demux.lookup(ssrc) == slot);
  }
  return 0;
}
