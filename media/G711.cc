#include "media/G711.h"

#include <array>
#include <cassert>

namespace rdv::media::g711 {
namespace {

template <int16_t (*F)(uint8_t)>
constexpr std::array<int16_t, 256> makeTable() {
  std::array<int16_t, 256> t{};
  for (int i = 0; i < 256; ++i) t[static_cast<size_t>(i)] = F(static_cast<uint8_t>(i));
  return t;
}

constexpr auto kUlaw = makeTable<ulawToLinearSlow>();
constexpr auto kAlaw = makeTable<alawToLinearSlow>();

}  // namespace

int16_t ulawToLinear(uint8_t code) { return kUlaw[code]; }
int16_t alawToLinear(uint8_t code) { return kAlaw[code]; }

void decodeUlaw(std::span<const std::byte> in, std::span<int16_t> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = kUlaw[std::to_integer<uint8_t>(in[i])];
}

void decodeAlaw(std::span<const std::byte> in, std::span<int16_t> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = kAlaw[std::to_integer<uint8_t>(in[i])];
}

void encodeUlaw(std::span<const int16_t> in, std::span<std::byte> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = std::byte{linearToUlaw(in[i])};
}

void encodeAlaw(std::span<const int16_t> in, std::span<std::byte> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = std::byte{linearToAlaw(in[i])};
}

}  // namespace rdv::media::g711
