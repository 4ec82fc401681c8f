// libFuzzer target for parseRtcpHeader, parseRtcpCompound and parseRtcpXr (plus the RTP/RTCP
// demux rule). Checks that the compound parser never accepts what the header-only check rejects,
// that the summary respects its fixed capacity, and that an accepted XR packet's blocks fit it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/RtcpPacket.h"
#include "media/RtcpXr.h"
#include "media/RtpPacket.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void checkXr(const rdv::media::XrReport& xr, size_t size) {
  check(size >= 8);
  check(xr.voipBlocks <= xr.blockCount);
  check(8 + size_t{xr.blockCount} * 4 <= size);
  check(8 + size_t{xr.voipBlocks} * 36 <= size);
  check(xr.voip.has_value() == (xr.voipBlocks > 0));
  if (xr.summary) check(8 + 40 <= size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdv::media;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);

  if (const auto xr = parseRtcpXr(input)) {
    checkXr(*xr, size);
    check(parseRtcpHeader(input).has_value());
  }

  const bool rtcp = looksLikeRtcp(input);
  const auto header = parseRtcpHeader(input);
  if (header) check(rtcp);
  if (rtcp) check(!RtpView::parse(input));

  const auto summary = parseRtcpCompound(input);
  if (!summary) return 0;
  check(header.has_value());
  check(header->packetType == rtcp::kSr || header->packetType == rtcp::kRr);
  check(header->senderSsrc == summary->senderSsrc);
  check(summary->senderInfo.has_value() == (header->packetType == rtcp::kSr));
  check(summary->packetCount >= 1);
  check(summary->blockCount <= RtcpSummary::kMaxReportBlocks);
  check(summary->blockCount == std::min<uint32_t>(summary->reportBlockTotal, RtcpSummary::kMaxReportBlocks));
  check(summary->reportBlockTotal * 24 <= size);
  uint64_t sum = 0;
  for (size_t i = 0; i < summary->blockCount; ++i) {
    const ReportBlock& b = summary->blocks[i];
    check(b.cumulativeLost >= -(1 << 23) && b.cumulativeLost < (1 << 23));
    sum += b.ssrc + b.fractionLost + b.highestSeq + b.jitter + b.lsr + b.dlsr;
  }
  if (summary->senderInfo) sum += summary->senderInfo->ntpMiddle32();
  if (summary->xr) {
    check(!summary->xrMalformed || summary->packetCount >= 3);  // a good XR and a bad one
    checkXr(*summary->xr, size - 8);                             // after at least the first RR
  }
  (void)sum;
  return 0;
}
