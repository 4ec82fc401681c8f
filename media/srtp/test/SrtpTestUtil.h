#pragma once
// Packet builders and key helpers shared by the SRTP tests.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "media/srtp/SrtpContext.h"

namespace rdv::srtp::test {

using Bytes = std::vector<std::byte>;

inline Bytes fromHex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    out.push_back(std::byte((nib(hex[i]) << 4) | nib(hex[i + 1])));
  }
  return out;
}

// An RTP packet (12-byte header, PT 0) with a `payload`-byte payload of a counting pattern,
// written at the front of `buf`; returns its length.
inline size_t writeRtp(std::span<std::byte> buf, uint16_t seq, uint32_t ssrc, size_t payload = 160) {
  const std::array<uint8_t, 12> h{0x80,
                                  0x00,
                                  uint8_t(seq >> 8),
                                  uint8_t(seq),
                                  0,
                                  0,
                                  0x12,
                                  0x34,
                                  uint8_t(ssrc >> 24),
                                  uint8_t(ssrc >> 16),
                                  uint8_t(ssrc >> 8),
                                  uint8_t(ssrc)};
  for (size_t i = 0; i < h.size(); ++i) buf[i] = std::byte(h[i]);
  for (size_t i = 0; i < payload; ++i) buf[12 + i] = std::byte((i * 7 + seq) & 0xff);
  return 12 + payload;
}

// An RTCP receiver report with one report block (32 bytes); returns its length.
inline size_t writeRtcp(std::span<std::byte> buf, uint32_t ssrc) {
  const std::array<uint8_t, 8> h{
      0x81, 201, 0, 7, uint8_t(ssrc >> 24), uint8_t(ssrc >> 16), uint8_t(ssrc >> 8), uint8_t(ssrc)};
  for (size_t i = 0; i < h.size(); ++i) buf[i] = std::byte(h[i]);
  for (size_t i = 8; i < 32; ++i) buf[i] = std::byte(i);
  return 32;
}

// key||salt of the suite's length: byte i = seed + i.
inline Bytes testKey(Suite suite, uint8_t seed) {
  Bytes k(suiteInfo(suite).keySaltLength());
  for (size_t i = 0; i < k.size(); ++i) k[i] = std::byte(seed + i);
  return k;
}

inline SrtpContext makeContext(Suite suite, Direction dir, std::span<const std::byte> keySalt) {
  const MasterKey key{keySalt};
  SrtpConfig c;
  c.suite = suite;
  c.direction = dir;
  c.keys = {&key, 1};
  auto ctx = SrtpContext::create(c);
  if (!ctx) std::abort();  // the tests' keys always fit their suite
  return std::move(ctx).value();
}

}  // namespace rdv::srtp::test
