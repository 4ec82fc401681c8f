// libFuzzer target for srtp::SdesCrypto::parse (the a=crypto value). What parses must format to
// text that parses to the same line again, and its keys must key an SrtpContext as they are:
// parse() promises key/salt lengths and MKI rules that SrtpContext::create checks again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "media/srtp/SdesCrypto.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdv::srtp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto c = SdesCrypto::parse(text);
  if (!c) {
    check(!toString(c.error()).empty());
    return 0;
  }
  check(!c->keys.empty() && c->keys.size() <= 16);
  const std::string line = c->format();
  const auto again = SdesCrypto::parse(line);
  check(again.has_value());
  check(again->format() == line);
  check(again->keys.size() == c->keys.size() && again->suite == c->suite && again->tag == c->tag);
  const auto keys = c->masterKeys();
  check(SrtpContext::create({c->suite, Direction::Inbound, keys}).has_value());
  (void)c->unsupportedSessionParam();
  return 0;
}
