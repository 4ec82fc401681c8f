// libFuzzer target for the PIDF parser (RFC 3863) that checks every PUBLISHed body. Checks, for
// every input: no crash or sanitizer report; an error reason is one printable line (it becomes a
// 400 reason phrase); an accepted document has an entity; and a document rebuilt from what was
// read (buildPidf with the entity, basic and note) parses back to the same basic and note.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/presence/Pidf.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto doc = rdv::presence::parsePidf(input, "alice");
  if (!doc) {
    for (char c : doc.error().reason) check(c >= 0x20 && c < 0x7f);
    check(!doc.error().reason.empty());
    (void)rdv::presence::parsePidf(input);  // without the entity check too
    return 0;
  }
  check(!doc->entity.empty());
  const auto basic = doc->basic.value_or(rdv::presence::Basic::Closed);
  const std::string rebuilt = rdv::presence::buildPidf(doc->entity, basic, doc->note, "t");
  auto again = rdv::presence::parsePidf(rebuilt, "alice");
  check(again.has_value());
  check(again->basic == basic);
  // A note of only whitespace reads back empty; otherwise it survives escaping.
  check(again->note == doc->note);
  return 0;
}
