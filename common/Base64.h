#pragma once
// Base64 (RFC 4648 §4, standard alphabet): SDES inline keys, TURN shared-secret passwords. Decoding accepts input with or
// without '=' padding (RFC 4568 implementations differ) and rejects anything else.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rdv::common {

// Decodes into out; returns the decoded length, or nullopt on a character outside the alphabet,
// misplaced or excess padding, a length of 4n+1 characters, or more bytes than out holds.
std::optional<size_t> base64Decode(std::string_view text, std::span<std::byte> out);

// Padded encoding.
std::string base64Encode(std::span<const std::byte> bytes);

}  // namespace rdv::common
