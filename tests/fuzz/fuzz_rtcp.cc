// libFuzzer target for parseRtcpHeader and parseRtcpCompound (plus the RTP/RTCP demux rule).
// Checks that the compound parser never accepts what the header-only check rejects, and that
// the summary respects its fixed capacity.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/RtcpPacket.h"
#include "media/RtpPacket.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdv::media;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);

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
  (void)sum;
  return 0;
}
