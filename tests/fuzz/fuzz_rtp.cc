// libFuzzer target for RtpView::parse, looksLikeRtcp, defaultClockRate and RtpReceiveStats.
//
// Each input is used twice:
//  1. as one packet: parsed, every accessor read, and the layout invariants checked;
//  2. as a stream of records [len:u8][arrival step ms:u8][len bytes], each parsed and the valid
//     ones fed to one RtpReceiveStats, so the fuzzer steers sequence numbers, SSRCs and timing.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/RtpPacket.h"
#include "media/RtpStats.h"

namespace {

using rdv::media::RtpReceiveStats;
using rdv::media::RtpView;

void check(bool ok) {
  if (!ok) std::abort();
}

// Reads every byte a view exposes so ASan sees any out-of-bounds span.
unsigned touch(std::span<const std::byte> b) {
  unsigned sum = 0;
  for (std::byte v : b) sum += std::to_integer<unsigned>(v);
  return sum;
}

void checkView(const RtpView& rtp, std::span<const std::byte> packet) {
  check(rtp.bytes().data() == packet.data() && rtp.bytes().size() == packet.size());
  size_t headers = 12 + 4 * size_t{rtp.csrcCount()};
  for (size_t i = 0; i < rtp.csrcCount(); ++i) (void)rtp.csrc(i);
  if (rtp.hasExtension()) {
    headers += 4 + rtp.extension().size();
    check(rtp.extension().data() == packet.data() + headers - rtp.extension().size());
  } else {
    check(rtp.extension().empty() && rtp.extensionProfile() == 0);
  }
  check(rtp.payload().data() == packet.data() + headers);
  check(headers + rtp.payload().size() <= packet.size());
  check(rtp.hasPadding() || headers + rtp.payload().size() == packet.size());
  check(rtp.payloadType() < 128);
  check(!rtp.marker() || rtp.payloadType() < 64 || rtp.payloadType() > 95);
  (void)(touch(rtp.payload()) + touch(rtp.extension()) + rtp.sequence() + rtp.timestamp() + rtp.ssrc());
}

void checkStats(const RtpReceiveStats& stats) {
  check(stats.lost() <= static_cast<int64_t>(stats.expected()));
  const double fraction = stats.lossFraction();
  check(fraction >= 0.0 && fraction <= 1.0);
  const double jitter = stats.jitterMs();
  check(std::isfinite(jitter) && jitter >= 0.0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);

  (void)rdv::media::defaultClockRate(size > 0 ? data[0] : 0);
  const bool rtcp = rdv::media::looksLikeRtcp(input);
  if (auto rtp = RtpView::parse(input)) {
    check(!rtcp);
    checkView(*rtp, input);
    RtpReceiveStats single;
    single.onPacket(*rtp, 0);
    check(single.packets() == 1 && single.expected() == 0 && single.hasSsrc());
  }

  RtpReceiveStats stats;
  if (size > 0 && (data[0] & 1) != 0) stats.setClockRate(48000);
  uint64_t arrivalNs = 0;
  for (size_t at = 0; size - at >= 2;) {
    const size_t length = data[at];
    arrivalNs += uint64_t{data[at + 1]} * 1'000'000;
    at += 2;
    if (length > size - at) break;
    const auto packet = input.subspan(at, length);
    at += length;
    if (auto rtp = RtpView::parse(packet)) {
      checkView(*rtp, packet);
      stats.onPacket(*rtp, arrivalNs);
      checkStats(stats);
    }
  }
  return 0;
}
