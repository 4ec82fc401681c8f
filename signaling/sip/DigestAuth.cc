#include "signaling/sip/DigestAuth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>

#include "signaling/sip/SipLex.h"

namespace rdv::sip {
namespace {

constexpr size_t kMaxDigestBytes = 32;  // SHA-256
constexpr size_t kSecretBytes = 32;
constexpr size_t kNonceMacBytes = 16;  // truncated HMAC-SHA-256, 128 bits of forgery resistance
constexpr size_t kNonceHexChars = 16 + 16 + 2 * kNonceMacBytes;
constexpr size_t kNcWindowBits = 64;
constexpr char kHexDigits[] = "0123456789abcdef";

char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

void appendHex(std::string& out, const unsigned char* bytes, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHexDigits[bytes[i] >> 4]);
    out.push_back(kHexDigits[bytes[i] & 0x0f]);
  }
}

void appendHex64(std::string& out, uint64_t v) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHexDigits[(v >> shift) & 0x0f]);
}

std::optional<uint64_t> parseHex64(std::string_view s) {
  if (s.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const int d = hexDigitValue(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

// ---- hashing (OpenSSL) -------------------------------------------------------------------------

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Digests fetched once: OpenSSL 3 otherwise looks the implementation up on every init.
const EVP_MD* evpFor(DigestAlgorithm alg) {
  static const EVP_MD* const md5 = [] {
    const EVP_MD* md = EVP_MD_fetch(nullptr, "MD5", nullptr);
    return md != nullptr ? md : EVP_md5();
  }();
  static const EVP_MD* const sha256 = [] {
    const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md != nullptr ? md : EVP_sha256();
  }();
  return alg == DigestAlgorithm::Md5 ? md5 : sha256;
}

// Lowercase hex of H(parts joined by ':'), written to `out` (which is cleared first).
void hashHexJoined(DigestAlgorithm alg, std::initializer_list<std::string_view> parts, std::string& out) {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int mdLen = 0;
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx.get(), evpFor(alg), nullptr) == 1;
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) ok = ok && EVP_DigestUpdate(ctx.get(), ":", 1) == 1;
    first = false;
    ok = ok && EVP_DigestUpdate(ctx.get(), p.data(), p.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), md.data(), &mdLen) == 1;
  if (!ok) {
    // Only a broken crypto library gets here; failing closed beats authenticating on garbage.
    std::fprintf(stderr, "rendezvous: OpenSSL digest failed\n");
    std::abort();
  }
  out.clear();
  appendHex(out, md.data(), mdLen);
}

std::array<unsigned char, kMaxDigestBytes> hmacSha256(std::string_view key, const unsigned char* data,
                                                      size_t len) {
  std::array<unsigned char, kMaxDigestBytes> mac{};
  unsigned int macLen = 0;
  if (HMAC(evpFor(DigestAlgorithm::Sha256), key.data(), static_cast<int>(key.size()), data, len, mac.data(),
           &macLen) == nullptr ||
      macLen != mac.size()) {
    std::fprintf(stderr, "rendezvous: OpenSSL HMAC failed\n");
    std::abort();
  }
  return mac;
}

std::string randomSecret() {
  std::string secret(kSecretBytes, '\0');
  size_t got = 0;
  while (got < secret.size()) {
    const ssize_t n = getrandom(secret.data() + got, secret.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got == secret.size()) return secret;
  // getrandom(2) missing (very old kernel or seccomp): OpenSSL has its own entropy sources.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size())) == 1) {
    return secret;
  }
  std::fprintf(stderr, "rendezvous: no system randomness for the digest nonce secret\n");
  std::abort();
}

// ---- auth-param list parsing (RFC 3261 §25.1, RFC 2617 §1.2) ------------------------------------

struct Param {
  std::string_view name;
  std::string value;
};

bool isLws(char c) {
  return c == ' ' || c == '\t';
}

// Parses `Digest name=value, name="quoted", ...` into its parameters. Rejects CR/LF anywhere: the
// SIP parser has already unfolded header lines, so a line break here is an injection attempt.
Expected<std::vector<Param>, std::string> parseDigestParams(std::string_view s) {
  size_t i = 0;
  auto skipLws = [&] {
    while (i < s.size() && isLws(s[i])) ++i;
  };
  skipLws();
  const size_t schemeStart = i;
  while (i < s.size() && isSipTokenChar(s[i])) ++i;
  if (!equalsIgnoreCase(s.substr(schemeStart, i - schemeStart), "Digest")) {
    return Unexpected(std::string("not a Digest scheme"));
  }
  if (i == s.size() || !isLws(s[i])) return Unexpected(std::string("no digest parameters"));

  std::vector<Param> params;
  for (;;) {
    skipLws();
    if (i == s.size()) break;
    if (s[i] == ',') {  // #rule permits empty list elements
      ++i;
      continue;
    }
    const size_t nameStart = i;
    while (i < s.size() && isSipTokenChar(s[i])) ++i;
    if (i == nameStart) return Unexpected(std::string("bad parameter name"));
    Param p{s.substr(nameStart, i - nameStart), {}};
    skipLws();
    if (i == s.size() || s[i] != '=') return Unexpected(std::string("missing '=' after parameter"));
    ++i;
    skipLws();
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {  // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
          if (i + 1 == s.size()) break;
          const auto e = static_cast<unsigned char>(s[i + 1]);
          if (e == '\r' || e == '\n' || e > 0x7f)
            return Unexpected(std::string("bad escape in quoted string"));
          p.value.push_back(static_cast<char>(e));
          i += 2;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
          return Unexpected(std::string("control character in quoted string"));
        } else {
          p.value.push_back(static_cast<char>(c));
          ++i;
        }
        if (p.value.size() > DigestCredentials::kMaxValueBytes) {
          return Unexpected(std::string("parameter value too long"));
        }
      }
      if (!closed) return Unexpected(std::string("unterminated quoted string"));
    } else {
      const size_t valueStart = i;
      while (i < s.size() && isSipTokenChar(s[i])) ++i;
      if (i == valueStart) return Unexpected(std::string("bad parameter value"));
      if (i - valueStart > DigestCredentials::kMaxValueBytes) {
        return Unexpected(std::string("parameter value too long"));
      }
      p.value.assign(s.substr(valueStart, i - valueStart));
    }
    if (params.size() == DigestCredentials::kMaxParams) return Unexpected(std::string("too many parameters"));
    params.push_back(std::move(p));
    skipLws();
    if (i == s.size()) break;
    if (s[i] != ',') return Unexpected(std::string("expected ',' between parameters"));
    ++i;
  }
  return params;
}

// Assigns `value` to the field registered under `name`; fails on a repeated parameter.
template <size_t N>
bool assignKnown(const std::array<std::pair<std::string_view, std::string*>, N>& fields,
                 std::array<bool, N>& seen, Param& p, std::string& error) {
  for (size_t k = 0; k < N; ++k) {
    if (equalsIgnoreCase(p.name, fields[k].first)) {
      if (seen[k]) {
        error = "duplicate " + std::string(fields[k].first) + " parameter";
        return false;
      }
      seen[k] = true;
      *fields[k].second = std::move(p.value);
      return true;
    }
  }
  return true;  // unknown auth-param: ignored (RFC 2617 §3.2.2 allows extensions)
}

// quoted-string (RFC 3261 §25.1): double quote, backslash and control characters other than HTAB
// go out as quoted-pairs. CR and LF cannot be represented and are the caller's to keep out.
void appendQuoted(std::string& out, std::string_view v) {
  out.push_back('"');
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || (u < 0x20 && c != '\t') || u == 0x7f) out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

bool equalsIgnoreCaseConstantTime(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(lowerAscii(a[i]) ^ lowerAscii(b[i]));
  }
  return diff == 0;
}

// nc is 8LHEX (RFC 2617 §3.2.2); zero is never sent by a conforming client.
std::optional<uint32_t> parseNc(std::string_view nc) {
  if (nc.size() != 8) return std::nullopt;
  uint32_t v = 0;
  for (char c : nc) {
    const int d = hexDigitValue(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  if (v == 0) return std::nullopt;
  return v;
}

}  // namespace

std::string_view digestAlgorithmName(DigestAlgorithm alg) {
  return alg == DigestAlgorithm::Sha256 ? "SHA-256" : "MD5";
}

std::optional<DigestAlgorithm> digestAlgorithmFromName(std::string_view name) {
  if (name.empty() || equalsIgnoreCase(name, "MD5")) return DigestAlgorithm::Md5;
  if (equalsIgnoreCase(name, "SHA-256")) return DigestAlgorithm::Sha256;
  return std::nullopt;
}

Expected<DigestCredentials, std::string> DigestCredentials::parse(std::string_view headerValue) {
  auto params = parseDigestParams(headerValue);
  if (!params) return Unexpected(params.error());
  DigestCredentials c;
  const std::array<std::pair<std::string_view, std::string*>, 10> fields{{
      {"username", &c.username},
      {"realm", &c.realm},
      {"nonce", &c.nonce},
      {"uri", &c.uri},
      {"response", &c.response},
      {"algorithm", &c.algorithm},
      {"cnonce", &c.cnonce},
      {"opaque", &c.opaque},
      {"qop", &c.qop},
      {"nc", &c.nc},
  }};
  std::array<bool, 10> seen{};
  std::string error;
  for (Param& p : *params) {
    if (!assignKnown(fields, seen, p, error)) return Unexpected(std::move(error));
  }
  for (size_t k = 0; k < 5; ++k) {  // username, realm, nonce, uri, response are mandatory
    if (!seen[k]) return Unexpected("missing " + std::string(fields[k].first) + " parameter");
  }
  if (!c.qop.empty() && (c.cnonce.empty() || c.nc.empty())) {
    return Unexpected(std::string("qop without cnonce and nc"));
  }
  return c;
}

std::string DigestCredentials::toHeaderValue() const {
  std::string out = "Digest username=";
  appendQuoted(out, username);
  out += ", realm=";
  appendQuoted(out, realm);
  out += ", nonce=";
  appendQuoted(out, nonce);
  out += ", uri=";
  appendQuoted(out, uri);
  out += ", response=";
  appendQuoted(out, response);
  // RFC 2617 §3.2.2 sends these three as tokens; a value that is not a token must stay quoted.
  auto appendTokenParam = [&](std::string_view name, std::string_view v) {
    if (v.empty()) return;
    out += ", ";
    out += name;
    out += '=';
    if (isSipToken(v)) {
      out += v;
    } else {
      appendQuoted(out, v);
    }
  };
  auto appendQuotedParam = [&](std::string_view name, std::string_view v) {
    if (v.empty()) return;
    out += ", ";
    out += name;
    out += '=';
    appendQuoted(out, v);
  };
  appendTokenParam("algorithm", algorithm);
  appendQuotedParam("cnonce", cnonce);
  appendQuotedParam("opaque", opaque);
  appendTokenParam("qop", qop);
  appendTokenParam("nc", nc);
  return out;
}

Expected<DigestChallenge, std::string> DigestChallenge::parse(std::string_view headerValue) {
  auto params = parseDigestParams(headerValue);
  if (!params) return Unexpected(params.error());
  DigestChallenge ch;
  std::string stale;
  const std::array<std::pair<std::string_view, std::string*>, 6> fields{{
      {"realm", &ch.realm},
      {"nonce", &ch.nonce},
      {"opaque", &ch.opaque},
      {"algorithm", &ch.algorithm},
      {"qop", &ch.qop},
      {"stale", &stale},
  }};
  std::array<bool, 6> seen{};
  std::string error;
  for (Param& p : *params) {
    if (!assignKnown(fields, seen, p, error)) return Unexpected(std::move(error));
  }
  if (!seen[0]) return Unexpected(std::string("missing realm parameter"));
  if (!seen[1]) return Unexpected(std::string("missing nonce parameter"));
  ch.stale = equalsIgnoreCase(stale, "true");
  return ch;
}

std::string digestResponse(DigestAlgorithm alg, std::string_view user, std::string_view realm,
                           std::string_view password, std::string_view method, std::string_view uri,
                           std::string_view nonce, std::string_view nc, std::string_view cnonce,
                           std::string_view qop) {
  std::string ha1;
  std::string ha2;
  std::string response;
  hashHexJoined(alg, {user, realm, password}, ha1);
  hashHexJoined(alg, {method, uri}, ha2);
  if (qop.empty()) {
    hashHexJoined(alg, {ha1, nonce, ha2}, response);
  } else {
    hashHexJoined(alg, {ha1, nonce, nc, cnonce, qop, ha2}, response);
  }
  return response;
}

DigestAuthenticator::DigestAuthenticator(std::string realm, std::chrono::seconds nonceTtl, std::string secret)
    : realm_(std::move(realm)),
      nonceTtlMs_(static_cast<uint64_t>(std::max<int64_t>(0, std::chrono::milliseconds(nonceTtl).count()))),
      secret_(secret.empty() ? randomSecret() : std::move(secret)) {
  const std::string label = "opaque:" + realm_;
  const auto mac = hmacSha256(secret_, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  appendHex(opaque_, mac.data(), 8);
}

// nonce = hex64(issuedMs) hex64(counter) hex(HMAC-SHA-256(secret, issuedMs|counter|realm)[0..16))
std::string DigestAuthenticator::makeNonce(uint64_t issuedMs, uint64_t counter) const {
  std::string input(16, '\0');
  for (int b = 0; b < 8; ++b) {
    input[b] = static_cast<char>(issuedMs >> (56 - 8 * b));
    input[8 + b] = static_cast<char>(counter >> (56 - 8 * b));
  }
  input += realm_;
  const auto mac = hmacSha256(secret_, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string nonce;
  nonce.reserve(kNonceHexChars);
  appendHex64(nonce, issuedMs);
  appendHex64(nonce, counter);
  appendHex(nonce, mac.data(), kNonceMacBytes);
  return nonce;
}

std::optional<DigestAuthenticator::NonceId> DigestAuthenticator::openNonce(std::string_view nonce) const {
  if (nonce.size() != kNonceHexChars) return std::nullopt;
  const auto issued = parseHex64(nonce.substr(0, 16));
  const auto counter = parseHex64(nonce.substr(16, 16));
  if (!issued || !counter) return std::nullopt;
  const std::string expected = makeNonce(*issued, *counter);
  if (CRYPTO_memcmp(expected.data(), nonce.data(), kNonceHexChars) != 0) return std::nullopt;
  return NonceId{*issued, *counter};
}

std::vector<std::string> DigestAuthenticator::challenges(uint64_t nowMs, bool stale) {
  const std::string nonce = makeNonce(nowMs, counter_++);
  std::vector<std::string> out;
  out.reserve(2);
  for (DigestAlgorithm alg : {DigestAlgorithm::Sha256, DigestAlgorithm::Md5}) {
    std::string v = "Digest realm=";
    appendQuoted(v, realm_);
    v += ", nonce=\"";
    v += nonce;
    v += "\", opaque=\"";
    v += opaque_;
    v += "\", algorithm=";
    v += digestAlgorithmName(alg);
    v += ", qop=\"auth\"";
    if (stale) v += ", stale=true";
    out.push_back(std::move(v));
  }
  return out;
}

DigestAuthenticator::Verdict DigestAuthenticator::verify(std::string_view method, const DigestCredentials& c,
                                                         std::string_view password, uint64_t nowMs) {
  return check(method, c, password, nowMs, std::nullopt);
}

DigestAuthenticator::Verdict DigestAuthenticator::verify(std::string_view method, const DigestCredentials& c,
                                                         std::string_view password, uint64_t nowMs,
                                                         std::string_view requestUri) {
  return check(method, c, password, nowMs, requestUri);
}

DigestAuthenticator::Verdict DigestAuthenticator::check(std::string_view method, const DigestCredentials& c,
                                                        std::string_view password, uint64_t nowMs,
                                                        std::optional<std::string_view> requestUri) {
  const auto alg = digestAlgorithmFromName(c.algorithm);
  if (!alg) return Verdict::Malformed;
  if (!equalsIgnoreCase(c.qop, "auth")) return Verdict::Malformed;  // we only ever offer qop="auth"
  const auto nc = parseNc(c.nc);
  if (!nc || c.cnonce.empty() || c.uri.empty()) return Verdict::Malformed;
  if (c.realm != realm_) return Verdict::BadCredentials;
  if (!c.opaque.empty() && c.opaque != opaque_) return Verdict::BadCredentials;
  if (password.empty()) return Verdict::UnknownUser;

  const auto id = openNonce(c.nonce);
  if (!id) return Verdict::BadCredentials;
  const std::string expected =
      digestResponse(*alg, c.username, c.realm, password, method, c.uri, c.nonce, c.nc, c.cnonce, c.qop);
  if (!equalsIgnoreCaseConstantTime(expected, c.response)) return Verdict::BadCredentials;
  if (requestUri && !equalsIgnoreCase(c.uri, *requestUri)) return Verdict::BadCredentials;

  // The digest is right; from here on failures mean "retry with a fresh nonce" (RFC 2617 §3.2.1).
  const uint64_t issuedMs = id->first;
  if (nowMs > issuedMs && nowMs - issuedMs > nonceTtlMs_) return Verdict::StaleNonce;
  forgetExpired(nowMs);
  auto it = used_.find(*id);
  if (it == used_.end()) {
    // Not in the table: either first use, or its entry was evicted (then it is at or below the
    // watermark and must not be trusted again).
    if (forgottenThrough_ && *id <= *forgottenThrough_) return Verdict::StaleNonce;
    while (used_.size() >= maxTracked_) forgetOldest();
    used_.emplace(*id, NcWindow{*nc, 0});
    return Verdict::Ok;
  }
  NcWindow& w = it->second;
  if (*nc > w.highest) {
    const uint32_t shift = *nc - w.highest;
    w.seenBelow = shift >= kNcWindowBits ? 0 : (w.seenBelow << shift);
    if (shift <= kNcWindowBits) w.seenBelow |= uint64_t{1} << (shift - 1);  // the previous highest
    w.highest = *nc;
    return Verdict::Ok;
  }
  if (*nc == w.highest) return Verdict::Replay;
  const uint32_t back = w.highest - *nc;             // >= 1
  if (back > kNcWindowBits) return Verdict::Replay;  // too old to tell: refuse rather than risk it
  const uint64_t bit = uint64_t{1} << (back - 1);
  if ((w.seenBelow & bit) != 0) return Verdict::Replay;
  w.seenBelow |= bit;
  return Verdict::Ok;
}

void DigestAuthenticator::forgetOldest() {
  const NonceId oldest = used_.begin()->first;
  forgottenThrough_ = forgottenThrough_ ? std::max(*forgottenThrough_, oldest) : oldest;
  used_.erase(used_.begin());
}

void DigestAuthenticator::forgetExpired(uint64_t nowMs) {
  // Entries are ordered by issue time, so the expired ones are a prefix. An expired nonce fails
  // the age check before it reaches the table, so dropping its entry cannot re-open a replay.
  while (!used_.empty()) {
    const uint64_t issuedMs = used_.begin()->first.first;
    if (!(nowMs > issuedMs && nowMs - issuedMs > nonceTtlMs_)) break;
    used_.erase(used_.begin());
  }
}

void DigestAuthenticator::setMaxTrackedNonces(size_t n) {
  maxTracked_ = std::max<size_t>(n, 1);
  while (used_.size() > maxTracked_) forgetOldest();
}

}  // namespace rdv::sip
