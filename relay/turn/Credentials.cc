#include "relay/turn/Credentials.h"

#include <charconv>

#include "common/Base64.h"

namespace rdv::turn {

std::string_view toString(AuthError e) {
  switch (e) {
    case AuthError::UnknownUser: return "unknown user";
    case AuthError::Expired: return "expired";
    case AuthError::Malformed: return "malformed";
  }
  return "unknown";
}

Credentials::Credentials(std::string realm, std::map<std::string, std::string, std::less<>> users,
                         std::string secret)
    : realm_(std::move(realm)), users_(std::move(users)), secret_(std::move(secret)) {}

std::string Credentials::sharedSecretPassword(std::string_view secret, std::string_view username) {
  const auto mac = stun::hmacSha1(stun::asBytes(secret), {stun::asBytes(username)});
  return common::base64Encode(mac);
}

Expected<stun::Md5Key, AuthError> Credentials::keyFor(std::string_view username, uint64_t nowSeconds) const {
  if (username.empty() || username.size() > 512) return Unexpected(AuthError::Malformed);  // RFC 8489 §14.3
  if (auto it = users_.find(username); it != users_.end()) {
    return stun::longTermKey(username, realm_, it->second);
  }
  if (secret_.empty()) return Unexpected(AuthError::UnknownUser);
  // "expiry:user" (coturn's --use-auth-secret also accepts a bare expiry).
  const auto colon = username.find(':');
  const auto stamp = username.substr(0, colon);
  uint64_t expiry = 0;
  auto [end, ec] = std::from_chars(stamp.data(), stamp.data() + stamp.size(), expiry);
  if (ec != std::errc() || end != stamp.data() + stamp.size() || stamp.empty()) {
    return Unexpected(AuthError::UnknownUser);
  }
  if (expiry < nowSeconds) return Unexpected(AuthError::Expired);
  return stun::longTermKey(username, realm_, sharedSecretPassword(secret_, username));
}

}  // namespace rdv::turn
