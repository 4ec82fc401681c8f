#include "common/Base64.h"

#include <cstdint>

namespace rdv::common {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::optional<size_t> base64Decode(std::string_view text, std::span<std::byte> out) {
  size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 2) {
    text.remove_suffix(1);
    ++padding;
  }
  // With padding the whole text was a multiple of 4; without, 4n+1 is never a valid length.
  if ((padding > 0 && (text.size() + padding) % 4 != 0) || text.size() % 4 == 1) return std::nullopt;
  const size_t decoded = text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
  if (decoded > out.size()) return std::nullopt;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (const char c : text) {
    const int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = std::byte((acc >> bits) & 0xff);
    }
  }
  return n;
}

std::string base64Encode(std::span<const std::byte> bytes) {
  std::string s;
  s.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t left = bytes.size() - i;
    uint32_t v = std::to_integer<uint32_t>(bytes[i]) << 16;
    if (left > 1) v |= std::to_integer<uint32_t>(bytes[i + 1]) << 8;
    if (left > 2) v |= std::to_integer<uint32_t>(bytes[i + 2]);
    s += kAlphabet[(v >> 18) & 63];
    s += kAlphabet[(v >> 12) & 63];
    s += left > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    s += left > 2 ? kAlphabet[v & 63] : '=';
  }
  return s;
}

}  // namespace rdv::common
