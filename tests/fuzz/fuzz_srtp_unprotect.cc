// libFuzzer target for srtp::SrtpContext::unprotectRtp/unprotectRtcp: arbitrary bytes against
// fixed keys (per suite one inbound context on the compact path — AES-GCM on AesGcm where the CPU
// has AES-NI and PCLMULQDQ — and one on libsrtp, and one with two MKI keys) must be refused with a
// reason or accepted with a plain length inside the packet, and never crash. The first input byte
// picks the context and RTP/RTCP; the rest is the datagram. With bit 0x40 set the rest is plain
// RTP instead: protected with the suite's outbound context, then unprotected by the compact and
// the libsrtp receiver, which must give the same answer (differential: the fuzzer drives the
// sequence numbers, SSRCs, ROC estimate and replay window).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "media/srtp/AesGcm.h"
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

// [0..3] the suites on the compact path (the corpus' first bytes 0..4 and 0x80..0x84 name these and
// the MKI context, as before the compact path existed), [4] two MKI keys (libsrtp), [5..8] the
// suites on libsrtp.
struct Contexts {
  std::vector<SrtpContext> all;
  // The differential pair per suite: only the differential inputs reach them, so both have seen
  // exactly the same packets.
  std::vector<SrtpContext> tx;         // [i] outbound for suite i, compact
  std::vector<SrtpContext> rxCompact;  // [i] inbound, compact
  std::vector<SrtpContext> rxLibsrtp;  // [i] inbound, libsrtp
  static SrtpContext make(Suite s, Direction d, const MasterKey& mk, RtpPath path) {
    return std::move(SrtpContext::create({s, d, {&mk, 1}, 1024, path})).value();
  }

  Contexts() {
    for (size_t i = 0; i < kSuiteCount; ++i) {
      const auto s = static_cast<Suite>(i);
      const auto k = key(s, 1);
      const MasterKey mk{k};
      all.push_back(make(s, Direction::Inbound, mk, RtpPath::Compact));
      check(all.back().compactRtp());
      tx.push_back(make(s, Direction::Outbound, mk, RtpPath::Compact));
      rxCompact.push_back(make(s, Direction::Inbound, mk, RtpPath::Compact));
      // AES-GCM on the compact path runs on AesGcm wherever the CPU allows it.
      const bool aesGcm = suiteInfo(s).aead && rdv::srtp::detail::AesGcm::supported();
      check(all.back().compactAesGcm() == aesGcm && rxCompact.back().compactAesGcm() == aesGcm);
      rxLibsrtp.push_back(make(s, Direction::Inbound, mk, RtpPath::Libsrtp));
    }
    const auto k1 = key(Suite::AesCm128HmacSha1_80, 1);
    const auto k2 = key(Suite::AesCm128HmacSha1_80, 2);
    const std::array<MasterKey, 2> two{{{k1, 1, 4}, {k2, 2, 4}}};
    all.push_back(
        std::move(SrtpContext::create({Suite::AesCm128HmacSha1_80, Direction::Inbound, two})).value());
    for (size_t i = 0; i < kSuiteCount; ++i) {
      const auto s = static_cast<Suite>(i);
      const auto k = key(s, 1);
      all.push_back(make(s, Direction::Inbound, MasterKey{k}, RtpPath::Libsrtp));
    }
  }
};

// Plain RTP in `buf[0, n)`: protected, then unprotected by both receivers of the suite.
void differential(Contexts& c, size_t suite, std::array<std::byte, 65536 + 64>& buf, size_t n) {
  const auto p = c.tx[suite].protectRtp(buf, n);
  if (!p) return;
  static std::array<std::byte, 65536 + 64> twin;
  std::memcpy(twin.data(), buf.data(), *p);
  const auto a = c.rxCompact[suite].unprotectRtp(std::span(buf.data(), *p));
  const auto b = c.rxLibsrtp[suite].unprotectRtp(std::span(twin.data(), *p));
  check(a.has_value() == b.has_value());
  if (a) {
    check(*a == n && *b == n && std::memcmp(buf.data(), twin.data(), n) == 0);
  } else {
    check(a.error() == b.error());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Contexts contexts;
  if (size < 1) return 0;
  alignas(8) static std::array<std::byte, 65536 + 64> plain;
  if ((data[0] & 0xc0u) == 0x40u) {
    const size_t n = std::min(size - 1, plain.size() - kMaxTrailer);
    std::memcpy(plain.data(), data + 1, n);
    differential(contexts, (data[0] & 0x3fu) % kSuiteCount, plain, n);
    return 0;
  }
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
