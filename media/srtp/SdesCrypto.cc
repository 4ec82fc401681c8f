#include "media/srtp/SdesCrypto.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include "common/Base64.h"

namespace rdv::srtp {

namespace {

constexpr uint64_t kMaxLifetime = uint64_t{1} << 48;  // RFC 3711 §9.2, SRTP
constexpr size_t kMaxKeys = 16;                       // libsrtp's SRTP_MAX_NUM_MASTER_KEYS

bool isWsp(char c) {
  return c == ' ' || c == '\t';
}

// Splits off the next run of non-blank characters; empty when only blanks are left.
std::string_view nextToken(std::string_view& s) {
  while (!s.empty() && isWsp(s.front())) s.remove_prefix(1);
  size_t n = 0;
  while (n < s.size() && !isWsp(s[n])) ++n;
  const std::string_view token = s.substr(0, n);
  s.remove_prefix(n);
  return token;
}

// 1..maxDigits decimal digits, no sign, no overflow.
std::optional<uint64_t> parseDecimal(std::string_view s, size_t maxDigits) {
  if (s.empty() || s.size() > maxDigits) return std::nullopt;
  uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// lifetime = ["2^"] 1*DIGIT (§9.1)
std::optional<uint64_t> parseLifetime(std::string_view s) {
  std::optional<uint64_t> v;
  if (s.starts_with("2^")) {
    const auto exp = parseDecimal(s.substr(2), 2);
    if (exp && *exp <= 48) v = uint64_t{1} << *exp;
  } else {
    v = parseDecimal(s, 15);
  }
  if (!v || *v == 0 || *v > kMaxLifetime) return std::nullopt;
  return v;
}

// mki = mki-value ":" mki-length; mki-length 1..128 bytes (§9.1). Values wider than 64 bits are
// refused (no implementation sends them).
Expected<bool, SdesError> parseMki(std::string_view s, SdesKey& key) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos) return Unexpected(SdesError::BadMki);
  const auto value = parseDecimal(s.substr(0, colon), 19);
  const auto length = parseDecimal(s.substr(colon + 1), 3);
  if (!value || !length || *length < 1 || *length > kMaxMkiLength) return Unexpected(SdesError::BadMki);
  if (*length < 8 && (*value >> (8 * *length)) != 0) return Unexpected(SdesError::BadMki);
  key.mki = *value;
  key.mkiLength = static_cast<uint8_t>(*length);
  return true;
}

// key-param = "inline:" key-salt ["|" lifetime] ["|" mki]
Expected<SdesKey, SdesError> parseKeyParam(std::string_view s, Suite suite) {
  constexpr std::string_view kInline = "inline:";
  if (!s.starts_with(kInline)) return Unexpected(SdesError::BadKeyMethod);
  s.remove_prefix(kInline.size());
  std::array<std::string_view, 4> fields;
  size_t count = 0;
  for (;;) {
    const size_t bar = s.find('|');
    if (count == fields.size()) return Unexpected(SdesError::BadSyntax);
    fields[count++] = s.substr(0, bar);
    if (bar == std::string_view::npos) break;
    s.remove_prefix(bar + 1);
  }
  if (count > 3) return Unexpected(SdesError::BadSyntax);
  SdesKey key;
  const auto n = common::base64Decode(fields[0], key.material);
  if (!n) return Unexpected(fields[0].empty() ? SdesError::BadSyntax : SdesError::BadBase64);
  if (*n != suiteInfo(suite).keySaltLength()) return Unexpected(SdesError::BadKeyLength);
  key.length = static_cast<uint8_t>(*n);
  for (size_t i = 1; i < count; ++i) {
    const bool isMki = fields[i].find(':') != std::string_view::npos;
    if (isMki) {
      if (i + 1 != count) return Unexpected(SdesError::BadSyntax);  // MKI comes last
      if (auto ok = parseMki(fields[i], key); !ok) return Unexpected(ok.error());
    } else {
      if (i != 1) return Unexpected(SdesError::BadSyntax);  // lifetime comes first
      key.lifetime = parseLifetime(fields[i]);
      if (!key.lifetime) return Unexpected(SdesError::BadLifetime);
    }
  }
  return key;
}

// §6.1: several keys need MKIs, all of one length, with distinct values.
bool mkisConsistent(const std::vector<SdesKey>& keys) {
  if (keys.size() == 1) return true;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].mkiLength == 0 || keys[i].mkiLength != keys[0].mkiLength) return false;
    for (size_t j = 0; j < i; ++j) {
      if (keys[j].mki == keys[i].mki) return false;
    }
  }
  return true;
}

std::string formatLifetime(uint64_t v) {
  if ((v & (v - 1)) == 0) return fmt::format("2^{}", __builtin_ctzll(v));
  return fmt::format("{}", v);
}

}  // namespace

std::string_view toString(SdesError e) {
  switch (e) {
    case SdesError::BadSyntax:
      return "bad syntax";
    case SdesError::BadTag:
      return "bad tag";
    case SdesError::UnknownSuite:
      return "unknown suite";
    case SdesError::BadKeyMethod:
      return "bad key method";
    case SdesError::BadBase64:
      return "bad base64";
    case SdesError::BadKeyLength:
      return "bad key length";
    case SdesError::BadLifetime:
      return "bad lifetime";
    case SdesError::BadMki:
      return "bad mki";
    case SdesError::TooManyKeys:
      return "too many keys";
  }
  return "bad syntax";
}

Expected<SdesCrypto, SdesError> SdesCrypto::parse(std::string_view value) {
  SdesCrypto c;
  const auto tag = parseDecimal(nextToken(value), 9);
  if (!tag) return Unexpected(SdesError::BadTag);
  c.tag = static_cast<uint32_t>(*tag);
  const std::string_view suiteName = nextToken(value);
  if (suiteName.empty()) return Unexpected(SdesError::BadSyntax);
  const auto suite = suiteFromName(suiteName);
  if (!suite) return Unexpected(SdesError::UnknownSuite);
  c.suite = *suite;
  std::string_view keyParams = nextToken(value);
  if (keyParams.empty()) return Unexpected(SdesError::BadSyntax);
  for (;;) {
    const size_t semi = keyParams.find(';');
    if (c.keys.size() == kMaxKeys) return Unexpected(SdesError::TooManyKeys);
    auto key = parseKeyParam(keyParams.substr(0, semi), c.suite);
    if (!key) return Unexpected(key.error());
    c.keys.push_back(*key);
    if (semi == std::string_view::npos) break;
    keyParams.remove_prefix(semi + 1);
  }
  if (!mkisConsistent(c.keys)) return Unexpected(SdesError::BadMki);
  for (std::string_view p = nextToken(value); !p.empty(); p = nextToken(value)) {
    c.sessionParams.emplace_back(p);
  }
  return c;
}

std::optional<SdesCrypto> SdesCrypto::generate(uint32_t tag, Suite suite) {
  SdesCrypto c;
  c.tag = tag;
  c.suite = suite;
  SdesKey key;
  key.length = static_cast<uint8_t>(suiteInfo(suite).keySaltLength());
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.material.data()), key.length) != 1) return std::nullopt;
  c.keys.push_back(key);
  return c;
}

std::string SdesCrypto::format() const {
  std::string s = fmt::format("{} {} ", tag, suiteInfo(suite).name);
  for (size_t i = 0; i < keys.size(); ++i) {
    const SdesKey& k = keys[i];
    s += i == 0 ? "inline:" : ";inline:";
    s += common::base64Encode(k.keySalt());
    if (k.lifetime) {  // two appends: g++ 12 at -O3 warns (-Wrestrict, a false positive) on "|" + string
      s += '|';
      s += formatLifetime(*k.lifetime);
    }
    if (k.mkiLength > 0) s += fmt::format("|{}:{}", k.mki, k.mkiLength);
  }
  for (const std::string& p : sessionParams) {
    s += ' ';
    s += p;
  }
  return s;
}

std::vector<MasterKey> SdesCrypto::masterKeys() const {
  std::vector<MasterKey> out;
  out.reserve(keys.size());
  for (const SdesKey& k : keys) out.push_back(k.masterKey());
  return out;
}

std::optional<std::string_view> SdesCrypto::unsupportedSessionParam() const {
  for (const std::string& p : sessionParams) {
    const std::string_view v = p;
    if (v == "UNENCRYPTED_SRTP" || v == "UNENCRYPTED_SRTCP" || v == "UNAUTHENTICATED_SRTP") return v;
    if (v.starts_with("FEC_KEY=")) return v;
    if (v.starts_with("KDR=") && v != "KDR=0") return v;
  }
  return std::nullopt;
}

}  // namespace rdv::srtp
