// libFuzzer target for the header values the B2BUA parses itself, beyond SipMessage: RFC 4028
// Session-Expires and Min-SE, RFC 3262 RAck and RSeq. Checks, for every accepted input, the
// invariants the call logic relies on:
//  - Session-Expires: a non-zero interval; Min-SE: a number;
//  - RSeq: 1..2^31-1; RAck: RSeq in the same range, a CSeq below 2^31 and a non-empty method;
//  - sessionEndMs() never ends a session before it was refreshed.
// The input is also split at NUL bytes so that one run exercises several values.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "signaling/b2bua/Reliable.h"
#include "signaling/b2bua/SessionTimer.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void one(std::string_view v) {
  if (auto se = rdv::b2bua::parseSessionExpires(v)) {
    check(se->seconds > 0);
    const uint64_t refreshed = 1'000'000;
    check(rdv::b2bua::sessionEndMs(refreshed, se->seconds) > refreshed);
  }
  (void)rdv::b2bua::parseMinSe(v);
  if (auto rseq = rdv::b2bua::parseRSeq(v)) check(*rseq >= 1 && *rseq < (uint32_t{1} << 31));
  if (auto rack = rdv::b2bua::parseRAck(v)) {
    check(rack->rseq >= 1 && rack->rseq < (uint32_t{1} << 31));
    check(rack->cseq < (uint32_t{1} << 31));
    check(!rack->method.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  one(all);
  while (!all.empty()) {
    const size_t nul = all.find('\0');
    one(all.substr(0, nul));
    if (nul == std::string_view::npos) break;
    all.remove_prefix(nul + 1);
  }
  return 0;
}
