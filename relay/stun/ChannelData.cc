#include "relay/stun/ChannelData.h"

#include "media/RtpPacket.h"

namespace rdv::stun {

namespace wire = media::wire;

std::string_view toString(ChannelDataError e) {
  switch (e) {
    case ChannelDataError::TooShort: return "too short";
    case ChannelDataError::BadChannel: return "bad channel";
    case ChannelDataError::BadLength: return "bad length";
  }
  return "unknown";
}

bool ChannelDataView::looksLikeChannelData(std::span<const std::byte> d) {
  return !d.empty() && (wire::load8(d, 0) & 0xC0) == 0x40;
}

Expected<ChannelDataView, ChannelDataError> ChannelDataView::parse(std::span<const std::byte> frame) {
  if (frame.size() < kChannelDataHeaderSize) return Unexpected(ChannelDataError::TooShort);
  const uint16_t channel = wire::loadBe16(frame, 0);
  if (channel < kMinChannel || channel > kMaxChannel) return Unexpected(ChannelDataError::BadChannel);
  const size_t length = wire::loadBe16(frame, 2);
  const size_t available = frame.size() - kChannelDataHeaderSize;
  if (length > available || available - length > 3) return Unexpected(ChannelDataError::BadLength);
  return ChannelDataView(channel, frame.subspan(kChannelDataHeaderSize, length));
}

void writeChannelDataHeader(std::span<std::byte> out, uint16_t channel, uint16_t dataLength) {
  wire::storeBe16(out, 0, channel);
  wire::storeBe16(out, 2, dataLength);
}

}  // namespace rdv::stun
