#pragma once
// Test helpers for legs that terminate SRTP (LegParams::crypto): keys for a leg, and the far end's
// view of them — a peer sends with the keys the leg receives and receives with the keys the leg
// sends — over srtp::SrtpContext, so the tests check the relay against libsrtp on the other side.

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "media/srtp/SrtpContext.h"
#include "relay/LegCrypto.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay::test {

// One master key of `suite` whose key||salt bytes are seed, seed+1, ...
inline SrtpKeys srtpKeys(srtp::Suite suite, uint8_t seed) {
  SrtpKeys k;
  k.suite = suite;
  k.count = 1;
  k.keys[0].keySaltLength = static_cast<uint8_t>(srtp::suiteInfo(suite).keySaltLength());
  for (size_t i = 0; i < k.keys[0].keySaltLength; ++i)
    k.keys[0].keySalt[i] = std::byte(static_cast<uint8_t>(seed + i));
  return k;
}

inline LegCrypto legCrypto(srtp::Suite suite, uint8_t recvSeed, uint8_t sendSeed) {
  return LegCrypto{srtpKeys(suite, recvSeed), srtpKeys(suite, sendSeed)};
}

inline srtp::SrtpContext srtpContext(const SrtpKeys& keys, srtp::Direction d) {
  const SrtpKey& k = keys.keys[0];
  const srtp::MasterKey mk{std::span<const std::byte>(k.keySalt.data(), k.keySaltLength), k.mki, k.mkiLength};
  auto c = srtp::SrtpContext::create(srtp::SrtpConfig{.suite = keys.suite, .direction = d, .keys = {&mk, 1}});
  EXPECT_TRUE(c.has_value());
  return std::move(c).value();
}

// The far end of a leg that terminates SRTP with `crypto`.
class SrtpPeerKeys {
 public:
  explicit SrtpPeerKeys(const LegCrypto& crypto)
      : tx_(srtpContext(crypto.recv, srtp::Direction::Outbound)),
        rx_(srtpContext(crypto.send, srtp::Direction::Inbound)) {}

  // `plain` protected as SRTP (or SRTCP).
  std::vector<uint8_t> protect(std::span<const uint8_t> plain, bool rtcp = false) {
    std::vector<uint8_t> buf(plain.size() + srtp::kMaxTrailer);
    std::memcpy(buf.data(), plain.data(), plain.size());
    auto s = std::as_writable_bytes(std::span(buf));
    auto n = rtcp ? tx_.protectRtcp(s, plain.size()) : tx_.protectRtp(s, plain.size());
    EXPECT_TRUE(n.has_value());
    buf.resize(n ? *n : 0);
    return buf;
  }
  // The plain packet, or an empty vector when it does not unprotect.
  std::vector<uint8_t> unprotect(const uint8_t* data, size_t size, bool rtcp = false) {
    std::vector<uint8_t> buf(data, data + size);
    auto s = std::as_writable_bytes(std::span(buf));
    auto n = rtcp ? rx_.unprotectRtcp(s) : rx_.unprotectRtp(s);
    buf.resize(n ? *n : 0);
    return buf;
  }

 private:
  srtp::SrtpContext tx_;
  srtp::SrtpContext rx_;
};

// Sends `pkt` from `from` to the relay's `port`.
inline void sendBytes(Peer& from, uint16_t port, const std::vector<uint8_t>& pkt) {
  from.sendRaw(port, pkt.data(), pkt.size());
}

inline std::vector<uint8_t> plainRtp(uint16_t seq, uint32_t ssrc) {
  auto p = Peer::rtp(seq, ssrc);
  return {p.begin(), p.end()};
}

// Waits up to `ms` for one datagram at `p`; empty when none came.
inline std::vector<uint8_t> receiveBytes(Peer& p, int ms = 1000) {
  std::vector<uint8_t> buf(2048);
  const ssize_t n = p.receive(ms, buf.data());
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

}  // namespace rdv::relay::test
