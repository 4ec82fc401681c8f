#pragma once
// TURN ChannelData framing (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
// application data. The view is non-owning; no allocation, no exceptions.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/Expected.h"

namespace rdv::stun {

enum class ChannelDataError : uint8_t { TooShort, BadChannel, BadLength };
std::string_view toString(ChannelDataError e);

// RFC 8656 §12 narrowed channel numbers to 0x4000-0x4FFF (0x5000-0x7FFF reserved so a client can
// demultiplex DTLS-SRTP, RFC 7983); RFC 5766 allowed 0x4000-0x7FFF and RFC 5766 clients still pick
// from all of it (coturn's turnutils_uclient among them). A server loses nothing by accepting the
// old range: the first two bits (01) still tell ChannelData from STUN on the client 5-tuple.
inline constexpr uint16_t kMinChannel = 0x4000;
inline constexpr uint16_t kMaxChannel = 0x7FFF;
inline constexpr size_t kChannelDataHeaderSize = 4;

class ChannelDataView {
 public:
  // Accepts a frame iff it holds the 4-byte header, the channel number is in
  // kMinChannel-kMaxChannel (BadChannel otherwise), the data fits, and at most 3 padding
  // bytes follow it (over UDP padding is optional, §12.5) -> BadLength otherwise.
  static Expected<ChannelDataView, ChannelDataError> parse(std::span<const std::byte> frame);
  // Demultiplexing test (§12): the first two bits are 01.
  static bool looksLikeChannelData(std::span<const std::byte> datagram);

  uint16_t channel() const { return channel_; }
  std::span<const std::byte> data() const { return data_; }

 private:
  ChannelDataView(uint16_t channel, std::span<const std::byte> data) : channel_(channel), data_(data) {}
  uint16_t channel_;
  std::span<const std::byte> data_;
};

// Writes the 4-byte header for `dataLength` bytes on `channel` into out[0..4). Precondition:
// out.size() >= 4. Datagrams towards a UDP client are sent unpadded.
void writeChannelDataHeader(std::span<std::byte> out, uint16_t channel, uint16_t dataLength);

}  // namespace rdv::stun
