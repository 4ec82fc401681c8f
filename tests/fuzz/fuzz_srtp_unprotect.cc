// libFuzzer target for srtp::SrtpContext::unprotectRtp/unprotectRtcp: arbitrary bytes against
// fixed keys (one inbound context per suite, one with two MKI keys) must be refused with a
// reason or accepted with a plain length inside the packet, and never crash. The first input
// byte picks the context and RTP/RTCP; the rest is the datagram.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "media/srtp/SrtpContext.h"

namespace {

using namespace rdv::srtp;

void check(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::byte> key(Suite s, uint8_t seed) {
  std::vector<std::byte> k(suiteInfo(s).keySaltLength());
  for (size_t i = 0; i < k.size(); ++i) k[i] = std::byte(seed + i);
  return k;
}

struct Contexts {
  std::vector<SrtpContext> all;
  Contexts() {
    for (size_t i = 0; i < kSuiteCount; ++i) {
      const auto s = static_cast<Suite>(i);
      const auto k = key(s, 1);
      const MasterKey mk{k};
      all.push_back(std::move(SrtpContext::create({s, Direction::Inbound, {&mk, 1}})).value());
    }
    const auto k1 = key(Suite::AesCm128HmacSha1_80, 1);
    const auto k2 = key(Suite::AesCm128HmacSha1_80, 2);
    const std::array<MasterKey, 2> two{{{k1, 1, 4}, {k2, 2, 4}}};
    all.push_back(
        std::move(SrtpContext::create({Suite::AesCm128HmacSha1_80, Direction::Inbound, two})).value());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Contexts contexts;
  if (size < 1) return 0;
  SrtpContext& ctx = contexts.all[(data[0] & 0x7fu) % contexts.all.size()];
  const bool rtcp = (data[0] & 0x80) != 0;
  alignas(8) static std::array<std::byte, 65536 + 64> buf;
  const size_t n = std::min(size - 1, buf.size());
  std::memcpy(buf.data(), data + 1, n);
  const std::span<std::byte> packet(buf.data(), n);
  const auto r = rtcp ? ctx.unprotectRtcp(packet) : ctx.unprotectRtp(packet);
  if (r) {
    check(*r <= n);
  } else {
    check(static_cast<size_t>(r.error()) < kSrtpErrorCount);
  }
  return 0;
}
