// libFuzzer target for the digest credential parser (Authorization / Proxy-Authorization values,
// RFC 3261 §22.4, RFC 2617 §3.2.2). Checks, for every accepted input:
//  - round trip: parse(toHeaderValue(parse(x))) succeeds and yields the same fields;
//  - verify() on the parsed credentials returns a verdict without touching anything it should not
//    (no crash, no sanitizer report), and rejects them: the fuzzer cannot forge a nonce.
// The same bytes also go through the challenge parser and canonicalAor, which share the lexer
// and the URI splitting that the registrar runs on untrusted text.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/sip/DigestAuth.h"
#include "signaling/sip/Registrar.h"

namespace {

using rdv::sip::DigestAuthenticator;
using rdv::sip::DigestChallenge;
using rdv::sip::DigestCredentials;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

bool sameFields(const DigestCredentials& a, const DigestCredentials& b) {
  return a.username == b.username && a.realm == b.realm && a.nonce == b.nonce && a.uri == b.uri &&
         a.response == b.response && a.algorithm == b.algorithm && a.cnonce == b.cnonce &&
         a.opaque == b.opaque && a.qop == b.qop && a.nc == b.nc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static DigestAuthenticator auth("rendezvous.test", std::chrono::seconds(30), "fuzz secret");
  constexpr uint64_t kNowMs = 1'700'000'000'000;

  if (auto c = DigestCredentials::parse(input)) {
    const std::string text = c->toHeaderValue();
    auto again = DigestCredentials::parse(text);
    check(again.has_value());
    check(sameFields(*c, *again));
    check(again->toHeaderValue() == text);

    const auto verdict = auth.verify("REGISTER", *c, "password", kNowMs);
    check(verdict != DigestAuthenticator::Verdict::Ok);
    (void)auth.verify("REGISTER", *c, "", kNowMs, "sip:rendezvous.test");
  }

  (void)DigestChallenge::parse(input);

  const std::string aor = rdv::sip::canonicalAor(input);
  check(aor.empty() || aor.rfind("sip:", 0) == 0 || aor.rfind("sips:", 0) == 0);
  return 0;
}
