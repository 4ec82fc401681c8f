#include "media/RtpPacket.h"

#include <array>

namespace rdv::media {

std::string_view toString(ParseError e) {
  switch (e) {
    case ParseError::TooShort: return "too short";
    case ParseError::BadVersion: return "bad version";
    case ParseError::BadLength: return "bad length";
    case ParseError::BadPadding: return "bad padding";
    case ParseError::BadExtension: return "bad extension";
    case ParseError::BadPacketType: return "bad packet type";
  }
  return "unknown";
}

bool looksLikeRtcp(std::span<const std::byte> packet) {
  if (packet.size() < 2) return false;
  const uint8_t second = wire::load8(packet, 1);
  return second >= 192 && second <= 223;
}

Expected<RtpView, ParseError> RtpView::parse(std::span<const std::byte> packet) {
  const size_t size = packet.size();
  if (size < kFixedHeaderSize) return Unexpected(ParseError::TooShort);
  const uint8_t first = wire::load8(packet, 0);
  if ((first >> 6) != kVersion) return Unexpected(ParseError::BadVersion);
  if (looksLikeRtcp(packet)) return Unexpected(ParseError::BadPacketType);

  // Headers: fixed part, CSRC list (§5.1), optional extension (§5.3.1).
  size_t offset = kFixedHeaderSize + 4 * size_t{first & 0x0fu};
  if (offset > size) return Unexpected(ParseError::TooShort);
  if ((first & 0x10) != 0) {
    if (size - offset < 4) return Unexpected(ParseError::BadExtension);
    const size_t extBytes = 4 * size_t{wire::loadBe16(packet, offset + 2)};
    offset += 4;
    if (size - offset < extBytes) return Unexpected(ParseError::BadExtension);
    offset += extBytes;
  }

  // Padding (§5.1): the last octet counts the padding octets including itself; it cannot be 0
  // and cannot reach back into the headers.
  size_t padding = 0;
  if ((first & 0x20) != 0) {
    padding = wire::load8(packet, size - 1);
    if (padding == 0 || padding > size - offset) return Unexpected(ParseError::BadPadding);
  }
  return RtpView(packet, offset, size - offset - padding);
}

std::span<const std::byte> RtpView::extension() const {
  if (!hasExtension()) return {};
  const size_t header = extensionOffset();
  return bytes_.subspan(header + 4, 4 * size_t{wire::loadBe16(bytes_, header + 2)});
}

size_t writeRtpHeader(std::span<std::byte> out, const RtpHeaderFields& h) {
  assert(out.size() >= RtpView::kFixedHeaderSize);
  out[0] = std::byte{RtpView::kVersion << 6};
  out[1] = std::byte(static_cast<uint8_t>((h.marker ? 0x80 : 0) | (h.payloadType & 0x7f)));
  wire::storeBe16(out, 2, h.sequence);
  wire::storeBe32(out, 4, h.timestamp);
  wire::storeBe32(out, 8, h.ssrc);
  return RtpView::kFixedHeaderSize;
}

std::span<const std::byte> findOneByteExtension(const RtpView& rtp, uint8_t id) {
  if (rtp.extensionProfile() != 0xBEDE) return {};
  const std::span<const std::byte> ext = rtp.extension();
  for (size_t i = 0; i < ext.size();) {
    const uint8_t b = wire::load8(ext, i);
    if (b == 0) {  // padding byte (§4.2)
      ++i;
      continue;
    }
    const uint8_t elementId = b >> 4;
    const size_t len = size_t{b & 0x0fu} + 1;
    if (elementId == 15 || i + 1 + len > ext.size()) return {};  // 15: stop processing
    if (elementId == id) return ext.subspan(i + 1, len);
    i += 1 + len;
  }
  return {};
}

uint32_t defaultClockRate(uint8_t payloadType) {
  // RFC 3551 table 4 (audio, 0-18) and table 5 (video, 25-34); 0 marks reserved/unassigned.
  static constexpr std::array<uint32_t, 35> kRates = {
      8000,   // 0 PCMU
      0,      // 1 reserved
      0,      // 2 reserved
      8000,   // 3 GSM
      8000,   // 4 G723
      8000,   // 5 DVI4
      16000,  // 6 DVI4
      8000,   // 7 LPC
      8000,   // 8 PCMA
      8000,   // 9 G722 (§4.5.2: RTP clock stays 8000 for historical reasons)
      44100,  // 10 L16 stereo
      44100,  // 11 L16 mono
      8000,   // 12 QCELP
      8000,   // 13 CN
      90000,  // 14 MPA
      8000,   // 15 G728
      11025,  // 16 DVI4
      22050,  // 17 DVI4
      8000,   // 18 G729
      0,      // 19 reserved
      0, 0, 0, 0, 0,  // 20-24 unassigned
      90000,  // 25 CelB
      90000,  // 26 JPEG
      0,      // 27 unassigned
      90000,  // 28 nv
      0, 0,   // 29-30 unassigned
      90000,  // 31 H261
      90000,  // 32 MPV
      90000,  // 33 MP2T
      90000,  // 34 H263
  };
  return payloadType < kRates.size() ? kRates[payloadType] : 0;
}

}  // namespace rdv::media
