// srtp_bench: CPU cost of SRTP per packet (Google Benchmark), per suite, on one core. Each
// iteration takes one 172-byte RTP packet (12-byte header + 160-byte payload, a 20 ms G.711
// frame) through SrtpContext::protectRtp on an outbound context and unprotectRtp on an inbound
// one keyed alike, in place in one buffer; the sequence number steps every iteration so the
// replay window sees fresh packets, as on a live leg. Variants time protect alone (unprotect
// alone is the round trip minus protect: pausing the timer per packet would cost more than the
// work) and one SRTCP round trip of a 32-byte receiver report. BM_ProtectUnprotectMany does the
// round trip over many pairs in turn, as a relay worker holding a context per leg direction does:
// each packet finds its contexts cold in cache.
//
// Figures: time per iteration = CPU per packet; a relay leg bridging plain RTP to SRTP pays one
// protect (or unprotect) per forwarded packet, SRTP to SRTP pays both.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "media/srtp/SrtpContext.h"
#include "media/srtp/SrtpTransforms.h"

namespace {

using namespace rdv::srtp;

constexpr size_t kPayload = 160;
constexpr uint32_t kSsrc = 0x11223344;

struct Pair {
  SrtpContext tx;
  SrtpContext rx;
};

// `path`: 0 = libsrtp for SRTP packets too, 1 = the compact path (SrtpContext.h, RtpPath).
Pair makePair(Suite s, int64_t path) {
  std::array<std::byte, kMaxKeySaltLength> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = std::byte(i * 13 + 1);
  const MasterKey mk{std::span(key).first(suiteInfo(s).keySaltLength())};
  const RtpPath p = path == 0 ? RtpPath::Libsrtp : RtpPath::Compact;
  return {std::move(SrtpContext::create({s, Direction::Outbound, {&mk, 1}, 1024, p})).value(),
          std::move(SrtpContext::create({s, Direction::Inbound, {&mk, 1}, 1024, p})).value()};
}

size_t writeRtp(std::span<std::byte> b, uint16_t seq) {
  const std::array<uint8_t, 12> h{0x80,
                                  0x00,
                                  uint8_t(seq >> 8),
                                  uint8_t(seq),
                                  0,
                                  0,
                                  0,
                                  160,
                                  uint8_t(kSsrc >> 24),
                                  uint8_t(kSsrc >> 16),
                                  uint8_t(kSsrc >> 8),
                                  uint8_t(kSsrc)};
  for (size_t i = 0; i < h.size(); ++i) b[i] = std::byte(h[i]);
  for (size_t i = 0; i < kPayload; ++i) b[12 + i] = std::byte(0xd5);
  return 12 + kPayload;
}

void setSeq(std::span<std::byte> b, uint16_t seq) {
  b[2] = std::byte(seq >> 8);
  b[3] = std::byte(seq & 0xff);
}

void label(benchmark::State& state, Suite suite, const Pair& p) {
  state.SetLabel(std::string(suiteInfo(suite).name) + " " + std::string(toString(transformsInUse())) + " " +
                 (p.tx.compactRtp() ? "compact" : "libsrtp"));
  state.SetItemsProcessed(state.iterations());
}

// The RTP variants: a pair of contexts for the suite in range(0) and one packet whose sequence
// number steps before each `round(pair, buffer, length)`. The payload is the ciphertext of the
// last round when `round` only protects: same cost, no rewrite.
template <typename Round>
void rtpRounds(benchmark::State& state, Round&& round) {
  const auto suite = static_cast<Suite>(state.range(0));
  if (!useTransforms(static_cast<Transforms>(state.range(1)))) state.SkipWithError("transforms refused");
  Pair p = makePair(suite, state.range(2));
  alignas(64) std::array<std::byte, 256> buf{};
  const size_t n = writeRtp(buf, 0);
  uint16_t seq = 0;
  for (auto _ : state) {
    setSeq(buf, ++seq);
    round(p, std::span(buf), n);
  }
  label(state, suite, p);
}

void BM_ProtectUnprotect(benchmark::State& state) {
  rtpRounds(state, [&state](Pair& p, std::span<std::byte> buf, size_t n) {
    const auto protectedLen = p.tx.protectRtp(buf, n);
    const auto plainLen = p.rx.unprotectRtp(buf.first(*protectedLen));
    if (!plainLen) state.SkipWithError("unprotect failed");
    benchmark::DoNotOptimize(buf.data());
  });
}

// range(0) = suite, range(1) = pairs, range(2) = transforms, range(3) = path; packet i goes through pair i % pairs, each pair
// with its own sequence numbers. Every pair carries one packet before timing (libsrtp makes an inbound
// context's per-SSRC stream on the first packet that authenticates).
void BM_ProtectUnprotectMany(benchmark::State& state) {
  const auto suite = static_cast<Suite>(state.range(0));
  if (!useTransforms(static_cast<Transforms>(state.range(2)))) state.SkipWithError("transforms refused");
  std::vector<Pair> pairs;
  pairs.reserve(static_cast<size_t>(state.range(1)));
  for (int64_t i = 0; i < state.range(1); ++i) pairs.push_back(makePair(suite, state.range(3)));
  std::vector<uint16_t> seqs(pairs.size(), 0);
  alignas(64) std::array<std::byte, 256> buf{};
  const size_t n = writeRtp(buf, 0);  // the round trip leaves the plain packet in place
  size_t next = 0;
  auto round = [&] {
    Pair& p = pairs[next];
    setSeq(buf, ++seqs[next]);
    const auto protectedLen = p.tx.protectRtp(buf, n);
    if (!protectedLen || !p.rx.unprotectRtp(std::span(buf).first(*protectedLen))) {
      state.SkipWithError("round trip failed");
    }
    next = next + 1 == pairs.size() ? 0 : next + 1;
  };
  for (size_t i = 0; i < pairs.size(); ++i) round();
  for (auto _ : state) {
    round();
    benchmark::DoNotOptimize(buf.data());
  }
  label(state, suite, pairs.front());
}

void BM_Protect(benchmark::State& state) {
  rtpRounds(state, [](Pair& p, std::span<std::byte> buf, size_t n) {
    benchmark::DoNotOptimize(p.tx.protectRtp(buf, n));
  });
}

void BM_RtcpRoundTrip(benchmark::State& state) {
  const auto suite = static_cast<Suite>(state.range(0));
  if (!useTransforms(static_cast<Transforms>(state.range(1)))) state.SkipWithError("transforms refused");
  Pair p = makePair(suite, 1);
  alignas(64) std::array<std::byte, 128> buf{};
  for (auto _ : state) {
    buf[0] = std::byte{0x81};
    buf[1] = std::byte{201};
    buf[3] = std::byte{7};
    const size_t len = *p.tx.protectRtcp(buf, 32);
    if (!p.rx.unprotectRtcp(std::span(buf).first(len))) state.SkipWithError("unprotect failed");
  }
  label(state, suite, p);
}

// The transforms argument picks the transforms under libsrtp: 0 = libsrtp's own, 1 = Rendezvous'
// (media/srtp/SrtpTransforms.h); the path argument 0 = libsrtp processes SRTP packets, 1 = the
// compact path (SrtpContext.h, RtpPath; it does no SRTCP, so BM_RtcpRoundTrip has no path).
// The compact path does its crypto itself: under it the transforms make no difference for RTP.
BENCHMARK(BM_ProtectUnprotect)
    ->ArgsProduct({benchmark::CreateDenseRange(0, kSuiteCount - 1, 1), {0, 1}, {0}})
    ->ArgsProduct({benchmark::CreateDenseRange(0, kSuiteCount - 1, 1), {1}, {1}});
// 1,000 SRTP<->SRTP relay sessions hold 4,000 contexts: 2,000 pairs. AES-CM and AES-128-GCM.
BENCHMARK(BM_ProtectUnprotectMany)->ArgsProduct({{0, 2}, {100, 2000}, {0, 1}, {0}})->ArgsProduct({{0, 2}, {100, 2000}, {1}, {1}});
BENCHMARK(BM_Protect)
    ->ArgsProduct({benchmark::CreateDenseRange(0, kSuiteCount - 1, 1), {0, 1}, {0}})
    ->ArgsProduct({benchmark::CreateDenseRange(0, kSuiteCount - 1, 1), {1}, {1}});
BENCHMARK(BM_RtcpRoundTrip)->ArgsProduct({benchmark::CreateDenseRange(0, kSuiteCount - 1, 1), {0, 1}});

}  // namespace

BENCHMARK_MAIN();
