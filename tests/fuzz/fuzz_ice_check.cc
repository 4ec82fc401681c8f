// libFuzzer target for relay::IceResponder::answer, what a relay media port with ICE-lite does
// with a datagram that demultiplexes as STUN (RFC 7983): arbitrary bytes against fixed
// credentials (those of relay/test/IceFixtures.h, so the seed corpus authenticates) from an IPv4
// and an IPv6 source. It must never crash or write past its buffer, and whatever it answers must
// be a well-formed Binding response to the same transaction: a success only for a request that
// authenticated, mapping the source and integrity-protected with the password; errors 400/401
// without integrity; drops answer nothing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

#include "common/SockAddr.h"
#include "relay/IceResponder.h"
#include "relay/stun/StunIntegrity.h"
#include "relay/stun/StunMessage.h"

namespace {

using rdv::common::SockAddr;
using rdv::relay::IceAnswer;
using rdv::relay::IceCheckResult;
using rdv::relay::IceCredential;
using rdv::relay::IceResponder;
using rdv::relay::LegIce;
using rdv::stun::MessageClass;
using rdv::stun::StunView;
namespace attr = rdv::stun::attr;

constexpr std::string_view kUfrag = "Rdv1";
constexpr std::string_view kPwd = "relayPasswordOf22chars+";

void check(bool ok) {
  if (!ok) std::abort();
}

IceCredential credential(std::string_view s) {
  IceCredential c;
  std::memcpy(c.text.data(), s.data(), s.size());
  c.length = static_cast<uint8_t>(s.size());
  return c;
}

LegIce makeIce() {
  LegIce ice;
  ice.localUfrag = credential(kUfrag);
  ice.localPwd = credential(kPwd);
  ice.remoteUfrag = credential("bRwS");
  return ice;
}

void answerFrom(std::span<const std::byte> input, const LegIce& ice, const SockAddr& source) {
  // A guard after the buffer the responder may use: it must stay untouched.
  std::array<std::byte, IceResponder::kMaxResponse + 16> buf{};
  buf.fill(std::byte{0xA5});
  const std::span<std::byte> out = std::span(buf).first(IceResponder::kMaxResponse);
  const IceAnswer a = IceResponder::answer(input, ice, source, out);
  for (size_t i = IceResponder::kMaxResponse; i < buf.size(); ++i) check(buf[i] == std::byte{0xA5});
  check(a.responseSize <= out.size());
  check(!a.useCandidate || a.result == IceCheckResult::Ok);
  if (a.result == IceCheckResult::Dropped) {
    check(a.responseSize == 0);
    return;
  }
  check(a.responseSize > 0);
  auto m = StunView::parse(out.first(a.responseSize));
  check(m.has_value());
  check(m->method() == rdv::stun::method::kBinding);
  check(std::memcmp(m->bytes().data() + 8, input.data() + 8, 12) == 0);  // same transaction
  check(m->checkFingerprint());
  const auto key = rdv::stun::shortTermKey(kPwd);
  const bool protectedByPwd = m->checkIntegrity(key) || m->checkIntegritySha256(key);
  if (a.result == IceCheckResult::Ok) {
    check(m->messageClass() == MessageClass::SuccessResponse);
    check(m->xorAddress(attr::kXorMappedAddress) == source);
    check(protectedByPwd);
    // Only a request keyed with the password gets here.
    auto req = StunView::parse(input);
    check(req.has_value() && (req->checkIntegrity(key) || req->checkIntegritySha256(key)));
    return;
  }
  check(m->messageClass() == MessageClass::ErrorResponse);
  auto e = m->errorCode();
  check(e.has_value());
  switch (a.result) {
    case IceCheckResult::BadRequest: check(e->code == 400 && !m->hasIntegrity()); break;
    case IceCheckResult::Unauthorized: check(e->code == 401 && !m->hasIntegrity()); break;
    case IceCheckResult::UnknownAttribute: check(e->code == 420 && protectedByPwd); break;
    case IceCheckResult::RoleConflict: check(e->code == 487 && protectedByPwd); break;
    default: check(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const LegIce ice = makeIce();
  static const SockAddr v4 = *SockAddr::fromIp("198.51.100.7", 54321);
  static const SockAddr v6 = *SockAddr::fromIp("2001:db8::7", 40000);
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  answerFrom(input, ice, v4);
  answerFrom(input, ice, v6);
  return 0;
}
