// libFuzzer target for stun::ChannelDataView::parse: the data span lies inside the frame, its
// length is the header's, and a parsed frame's header rewrites to the same bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "relay/stun/ChannelData.h"

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  auto f = rdv::stun::ChannelDataView::parse(input);
  if (!f) return 0;
  check(rdv::stun::ChannelDataView::looksLikeChannelData(input));
  check(f->channel() >= rdv::stun::kMinChannel && f->channel() <= rdv::stun::kMaxChannel);
  check(f->data().data() == input.data() + 4 && 4 + f->data().size() <= size && size - 4 - f->data().size() <= 3);
  unsigned sum = 0;
  for (std::byte b : f->data()) sum += std::to_integer<unsigned>(b);
  std::array<std::byte, 4> header{};
  rdv::stun::writeChannelDataHeader(header, f->channel(), static_cast<uint16_t>(f->data().size()));
  check(std::memcmp(header.data(), data, 4) == 0);
  (void)sum;
  return 0;
}
