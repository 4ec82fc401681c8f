// libFuzzer target for the NG bencode codec. Beyond "no crash, no UB", it checks that anything
// the parser accepts re-encodes canonically: parse(encode(v)) == v and encoding is stable.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/ng/Bencode.h"

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

// Walks the value through the public accessors, as NG command handling would.
void touch(const rdv::ng::BValue& v) {
  (void)v.getString("command");
  (void)v.getString("call-id");
  (void)v.getInt("ttl");
  if (const auto* flags = v.find("flags"); flags != nullptr && flags->isList()) {
    for (const auto& flag : flags->asList()) {
      if (flag.isString()) {
        (void)flag.asString().size();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = rdv::ng::parseBencode(input);
  // Tight limits exercise the limit paths on the same input.
  (void)rdv::ng::parseBencode(input, rdv::ng::BencodeLimits{3, 16});
  if (!parsed) {
    check(parsed.error().offset <= size && !parsed.error().reason.empty());
    return 0;
  }
  touch(*parsed);
  const std::string encoded = rdv::ng::encodeBencode(*parsed);
  // Accepted input is canonical except for dictionary key order, which is kept, so it re-encodes
  // to exactly the input.
  check(encoded == input);
  auto again = rdv::ng::parseBencode(encoded);
  check(again.has_value() && *again == *parsed);
  return 0;
}
