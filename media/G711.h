#pragma once
// G.711 µ-law and A-law sample conversion (ITU-T G.711, the segment/mantissa form spandsp and
// Sun's reference use). Decoding is a 256-entry table per law, built at compile time; encoding
// is a bit-width computation per sample. No state, so the relay can use it without spandsp.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace rdv::media::g711 {

inline uint8_t linearToUlaw(int16_t sample) {
  constexpr int kBias = 0x84;
  int linear = sample;
  uint8_t mask = 0xff;
  if (linear < 0) {
    linear = kBias - linear - 1;
    mask = 0x7f;
  } else {
    linear = kBias + linear;
  }
  const int seg = static_cast<int>(std::bit_width(static_cast<unsigned>(linear | 0xff))) - 8;
  if (seg >= 8) return static_cast<uint8_t>(0x7f ^ mask);
  return static_cast<uint8_t>(((seg << 4) | ((linear >> (seg + 3)) & 0x0f)) ^ mask);
}

inline uint8_t linearToAlaw(int16_t sample) {
  int linear = sample;
  uint8_t mask = 0xd5;
  if (linear < 0) {
    linear = -linear - 1;
    mask = 0x55;
  }
  const int seg = static_cast<int>(std::bit_width(static_cast<unsigned>(linear | 0xff))) - 8;
  if (seg >= 8) return static_cast<uint8_t>(0x7f ^ mask);
  return static_cast<uint8_t>(((seg << 4) | ((linear >> (seg != 0 ? seg + 3 : 4)) & 0x0f)) ^ mask);
}

constexpr int16_t ulawToLinearSlow(uint8_t code) {
  const int u = static_cast<uint8_t>(~code);
  const int t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return static_cast<int16_t>((u & 0x80) != 0 ? 0x84 - t : t - 0x84);
}

constexpr int16_t alawToLinearSlow(uint8_t code) {
  const int a = code ^ 0x55;
  int i = (a & 0x0f) << 4;
  const int seg = (a & 0x70) >> 4;
  i = seg != 0 ? (i + 0x108) << (seg - 1) : i + 8;
  return static_cast<int16_t>((a & 0x80) != 0 ? i : -i);
}

int16_t ulawToLinear(uint8_t code);  // table lookup
int16_t alawToLinear(uint8_t code);  // table lookup

// Whole-buffer forms; `out` has the same length as the input.
void decodeUlaw(std::span<const std::byte> in, std::span<int16_t> out);
void decodeAlaw(std::span<const std::byte> in, std::span<int16_t> out);
void encodeUlaw(std::span<const int16_t> in, std::span<std::byte> out);
void encodeAlaw(std::span<const int16_t> in, std::span<std::byte> out);

}  // namespace rdv::media::g711
