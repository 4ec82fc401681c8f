#include "relay/LegSrtp.h"

#include <array>

namespace rdv::relay {
namespace {

// The context of one direction; the SrtpKeys views stay valid for the call (create copies them).
Expected<srtp::SrtpContext, srtp::SrtpError> build(const SrtpKeys& keys, srtp::Direction direction) {
  std::array<srtp::MasterKey, SrtpKeys::kMaxKeys> master{};
  const size_t n = keys.count <= SrtpKeys::kMaxKeys ? keys.count : 0;
  for (size_t i = 0; i < n; ++i) {
    const SrtpKey& k = keys.keys[i];
    master[i] =
        srtp::MasterKey{std::span<const std::byte>(k.keySalt.data(), k.keySaltLength), k.mki, k.mkiLength};
  }
  return srtp::SrtpContext::create(srtp::SrtpConfig{
      .suite = keys.suite,
      .direction = direction,
      .keys = std::span<const srtp::MasterKey>(master.data(), n),
  });
}

}  // namespace

LegSrtp::LegSrtp(const LegCrypto& crypto) {
  if (auto in = build(crypto.recv, srtp::Direction::Inbound)) {
    in_.emplace(std::move(*in));
  } else {
    inError_ = in.error();
  }
  if (auto out = build(crypto.send, srtp::Direction::Outbound)) {
    out_.emplace(std::move(*out));
  } else {
    outError_ = out.error();
  }
}

Expected<size_t, srtp::SrtpError> LegSrtp::unprotect(std::span<std::byte> packet, bool rtcp) {
  if (!in_) return Unexpected(*inError_);
  return rtcp ? in_->unprotectRtcp(packet) : in_->unprotectRtp(packet);
}

Expected<size_t, srtp::SrtpError> LegSrtp::protect(std::span<std::byte> buffer, size_t length, bool rtcp) {
  if (!out_) return Unexpected(*outError_);
  return rtcp ? out_->protectRtcp(buffer, length) : out_->protectRtp(buffer, length);
}

}  // namespace rdv::relay
