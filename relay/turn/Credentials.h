#pragma once
// TURN long-term credentials (RFC 8656 §9, RFC 8489 §9.2): the key a request's
// MESSAGE-INTEGRITY must verify with. Two sources:
//  - users from the configuration (`[turn.users]` name = password, realm `turn.realm`);
//  - time-limited credentials signed with a shared secret (`turn.secret`), as WebRTC services
//    hand out: username "expiry:user" (expiry in Unix seconds), password
//    base64(HMAC-SHA1(secret, username)). Expired ones are refused.
// A configured user wins over a shared-secret reading of the same name.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "relay/stun/StunIntegrity.h"

namespace rdv::turn {

enum class AuthError : uint8_t { UnknownUser, Expired, Malformed };
std::string_view toString(AuthError e);

class Credentials {
 public:
  Credentials(std::string realm, std::map<std::string, std::string, std::less<>> users, std::string secret);

  const std::string& realm() const { return realm_; }
  // The MD5 long-term key for `username` at Unix time `nowSeconds`.
  Expected<stun::Md5Key, AuthError> keyFor(std::string_view username, uint64_t nowSeconds) const;

  // base64(HMAC-SHA1(secret, username)): the password a shared-secret username implies.
  static std::string sharedSecretPassword(std::string_view secret, std::string_view username);

 private:
  std::string realm_;
  std::map<std::string, std::string, std::less<>> users_;
  std::string secret_;
};

}  // namespace rdv::turn
