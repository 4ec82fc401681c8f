#pragma once
// BUNDLE (RFC 9143) on the relay: several m-lines of one session share the transport of the first
// m-line of their group toward one peer (a WebRTC browser): one socket, one latch, one ICE-lite
// agent, one DTLS handshake and one SRTP session carrying several SSRCs. Signalling marks each
// bundled leg with the stream whose leg on the same side is its transport, and gives every leg of
// the group the payload types of its m-line, which the worker demultiplexes by (RFC 9143 §9.2,
// RFC 8843 practice): SSRC once learned, else payload type. Value types, trivially copyable and
// comparable, so they ride in LegParams through the worker command queue.

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>

namespace rdv::relay {

// A set of RTP payload types (0..127), one bit each.
struct PayloadTypeSet {
  std::array<uint64_t, 2> bits{};
  void add(uint8_t pt) {
    if (pt < 128) bits[pt >> 6] |= uint64_t{1} << (pt & 63U);
  }
  bool has(uint8_t pt) const { return pt < 128 && (bits[pt >> 6] >> (pt & 63U) & 1U) != 0; }
  bool empty() const { return bits[0] == 0 && bits[1] == 0; }
  bool operator==(const PayloadTypeSet&) const = default;
};

struct LegBundle {
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  // The stream whose leg on this leg's side carries this leg's packets; kNone: this leg has its
  // own transport (and may be the transport of others). A bundled leg has no socket of its own.
  uint32_t transport = kNone;
  // The payload types of this leg's m-line as its peer sends them: how RTP from the shared
  // transport finds this stream before its SSRC is known. Used on the transport leg too.
  PayloadTypeSet payloadTypes;
  // This m-line's a=mid, and the id its peer gives the MID RTP header extension
  // (urn:ietf:params:rtp-hdrext:sdes:mid, RFC 9143 §15.1; 0 = not negotiated): how RTP finds its
  // stream when payload types do not tell (two m-lines with the same codec).
  static constexpr size_t kMaxMid = 16;
  std::array<char, kMaxMid> mid{};
  uint8_t midLength = 0;
  uint8_t midExtensionId = 0;
  std::string_view midView() const { return {mid.data(), midLength}; }
  bool bundled() const { return transport != kNone; }
  bool operator==(const LegBundle&) const = default;
};

}  // namespace rdv::relay
