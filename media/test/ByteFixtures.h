#pragma once
// Byte-fixture helpers shared by the media parser tests: packets written out as the RFCs draw
// them, one value a byte, and glued into compound packets.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace rdv::media::test {

using Bytes = std::vector<std::byte>;

inline Bytes bytes(std::initializer_list<uint8_t> values) {
  Bytes out;
  for (uint8_t v : values) out.push_back(std::byte{v});
  return out;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace rdv::media::test
