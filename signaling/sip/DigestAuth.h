#pragma once
// SIP digest authentication for the registrar (RFC 3261 §22.4, which profiles RFC 2617 digest;
// RFC 8760 adds SHA-256 and the algorithm preference order).
//
// The server side is stateless about challenges: a nonce is an HMAC-SHA-256 token over its own
// issue time and a counter, so any nonce this process minted can be checked without a table, and
// nonces from a previous run (different secret) or another realm are simply not authentic.
// The only state is a bounded replay window per nonce, kept for nonces that have authenticated a
// request and dropped when they expire.
//
// Only qop=auth is supported (RFC 2617 §3.2.2). auth-int, the "-sess" algorithms and RFC 7616
// userhash are not offered, so a client using them gets Verdict::Malformed.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/Expected.h"

namespace rdv::sip {

enum class DigestAlgorithm : uint8_t { Md5, Sha256 };

// "MD5" / "SHA-256", the algorithm parameter tokens of RFC 8760 §2.2.
std::string_view digestAlgorithmName(DigestAlgorithm alg);
// Case-insensitive; an empty name means MD5 (RFC 2617 §3.2.1 default). nullopt for anything else,
// including "MD5-sess" and "SHA-256-sess", which this implementation does not support.
std::optional<DigestAlgorithm> digestAlgorithmFromName(std::string_view name);

// A parsed Authorization / Proxy-Authorization value (RFC 3261 §25.1 "credentials"):
//   Digest username="..", realm="..", nonce="..", uri="..", response="..", algorithm=..,
//          cnonce="..", opaque="..", qop=auth, nc=00000001
// Values are stored unquoted and unescaped. Parameter names are case-insensitive; quoted and token
// forms are both accepted for every parameter (deployed clients disagree about which to quote).
// Unknown auth-params are skipped. An absent parameter is an empty string.
struct DigestCredentials {
  std::string username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc;

  // Limits that bound parsing work on untrusted input.
  static constexpr size_t kMaxValueBytes = 4096;
  static constexpr size_t kMaxParams = 32;

  // Checks the syntax and that username, realm, nonce, uri and response are present, and that
  // cnonce and nc accompany qop (RFC 2617 §3.2.2). The error is short text usable as a 400 reason.
  static Expected<DigestCredentials, std::string> parse(std::string_view headerValue);

  // The header value a client sends, quoting per RFC 2617 §3.2.2 (algorithm, qop, nc unquoted).
  // Empty optional parameters are omitted. Values must not contain CR or LF (parse() never yields
  // them); for any parsed value, parse(toHeaderValue()) gives back the same fields.
  std::string toHeaderValue() const;
};

// A parsed WWW-Authenticate / Proxy-Authenticate digest challenge (RFC 3261 §25.1 "challenge"),
// for the client side in tests and load generators.
struct DigestChallenge {
  std::string realm, nonce, opaque, algorithm, qop;
  bool stale = false;
  // Requires realm and nonce. The error is short text.
  static Expected<DigestChallenge, std::string> parse(std::string_view headerValue);
};

// The request-digest of RFC 2617 §3.2.2.1 with H = MD5 or SHA-256 (RFC 8760 §2.3 keeps the same
// construction), as lowercase hex:
//   HA1 = H(user ":" realm ":" password), HA2 = H(method ":" uri)
//   qop non-empty: H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
//   qop empty (RFC 2069 compatibility): H(HA1 ":" nonce ":" HA2)
std::string digestResponse(DigestAlgorithm alg, std::string_view user, std::string_view realm,
                           std::string_view password, std::string_view method, std::string_view uri,
                           std::string_view nonce, std::string_view nc, std::string_view cnonce,
                           std::string_view qop);

// Issues challenges and checks credentials for one realm. Not thread-safe: one instance per worker
// (the replay window is per instance, so a nonce is only protected against replay to the instance
// that is checking it).
class DigestAuthenticator {
 public:
  // Outcome of verify(), and the reply the SIP layer is expected to send:
  //   Ok             accept the request
  //   BadCredentials 401 with fresh challenges (wrong password, forged or foreign nonce, realm or
  //                  opaque mismatch, uri not matching the Request-URI)
  //   StaleNonce     401 with fresh challenges and stale=true: the digest was right but the nonce
  //                  has expired (RFC 2617 §3.2.1), so the client retries without asking the user
  //   Replay         403, or 401 with stale=true: a correct digest whose nonce+nc was already used
  //   UnknownUser    401 or 403 (same treatment as BadCredentials avoids revealing user names)
  //   Malformed      400: unsupported algorithm or qop, nc not 8 hex digits, missing pieces
  enum class Verdict : uint8_t { Ok, BadCredentials, StaleNonce, Replay, UnknownUser, Malformed };

  // Nonces are tracked for replay up to this many at once (each entry is a few dozen bytes).
  static constexpr size_t kDefaultMaxTrackedNonces = 65536;

  // secret keys the nonce HMAC; empty means 32 random bytes from getrandom(2), so nonces do not
  // survive a restart. Pass the same configured secret to let nonces outlive a restart.
  // Aborts with a message if the system cannot supply randomness (unusable environment).
  DigestAuthenticator(std::string realm, std::chrono::seconds nonceTtl, std::string secret = {});

  // WWW-Authenticate (or Proxy-Authenticate) values for a 401/407: one per algorithm, SHA-256
  // first then MD5 (RFC 8760 §2.4), sharing one fresh nonce, each with qop="auth" and opaque,
  // and stale=true when `stale` is set. nowMs is the issue time written into the nonce.
  std::vector<std::string> challenges(uint64_t nowMs, bool stale = false);

  // Checks credentials from a request with `method` (e.g. "REGISTER") against the user's
  // plaintext password (empty = no such user). Checks, in order: supported algorithm and qop=auth
  // with an 8-hex-digit nc, realm, opaque (when sent), nonce authenticity, the response digest
  // (constant-time compare), nonce age against nonceTtl, then that this nonce+nc was not used
  // before. Only a fully successful check records the nonce+nc as used.
  Verdict verify(std::string_view method, const DigestCredentials& c, std::string_view password,
                 uint64_t nowMs);
  // As above, and also requires the credentials' uri to equal the Request-URI (RFC 2617 §3.2.2.5;
  // compared ignoring ASCII case) so that credentials cannot be moved to another request target.
  Verdict verify(std::string_view method, const DigestCredentials& c, std::string_view password,
                 uint64_t nowMs, std::string_view requestUri);

  const std::string& realm() const { return realm_; }
  // The opaque value every challenge carries; clients echo it back.
  const std::string& opaque() const { return opaque_; }

  // Replay bookkeeping. When the table is full the oldest nonces are forgotten and every nonce
  // issued up to them is treated as stale from then on, so forgetting never re-opens a replay.
  // n is at least 1.
  void setMaxTrackedNonces(size_t n);
  size_t trackedNonceCount() const { return used_.size(); }

 private:
  // Issue time and counter of a nonce; ordered by issue time so the oldest entry is first.
  using NonceId = std::pair<uint64_t, uint64_t>;
  // RFC 2617 §3.2.2: nc counts requests made with a nonce. Like the SRTP replay list (RFC 3711
  // §3.3.2), remember the highest nc seen plus a 64-wide window below it, so requests that were
  // sent in parallel and arrive out of order are still accepted exactly once.
  struct NcWindow {
    uint32_t highest = 0;
    uint64_t seenBelow = 0;  // bit i set: nc == highest - 1 - i was used
  };

  Verdict check(std::string_view method, const DigestCredentials& c, std::string_view password,
                uint64_t nowMs, std::optional<std::string_view> requestUri);
  std::string makeNonce(uint64_t issuedMs, uint64_t counter) const;
  std::optional<NonceId> openNonce(std::string_view nonce) const;
  void forgetExpired(uint64_t nowMs);
  void forgetOldest();  // precondition: used_ not empty

  std::string realm_;
  uint64_t nonceTtlMs_;
  std::string secret_;
  std::string opaque_;
  uint64_t counter_ = 0;
  std::map<NonceId, NcWindow> used_;
  std::optional<NonceId> forgottenThrough_;  // nonces at or before this are stale
  size_t maxTracked_ = kDefaultMaxTrackedNonces;
};

}  // namespace rdv::sip
