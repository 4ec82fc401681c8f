#pragma once
// SDP Security Descriptions (RFC 4568): the value of one `a=crypto` attribute,
//   <tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>][;inline:...]
//   [<session-param>...]
// One checked entry point, SdesCrypto::parse; what it returns is well-formed for its suite (key
// and salt lengths, MKI rules), so SrtpContext::create accepts its masterKeys() as they are.
// Control-plane code: allocates, no exceptions.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "media/srtp/SrtpContext.h"
#include "media/srtp/SrtpSuite.h"

namespace rdv::srtp {

// Why an a=crypto value was refused; an answerer skips such a line (RFC 4568 §7.1.1).
enum class SdesError : uint8_t {
  BadSyntax,     // missing fields, bad separators, empty value
  BadTag,        // tag not 1..9 digits
  UnknownSuite,  // a suite this build does not terminate
  BadKeyMethod,  // key method other than "inline"
  BadBase64,     // key||salt not base64
  BadKeyLength,  // key||salt length does not match the suite
  BadLifetime,   // lifetime not a decimal or 2^n, zero, or above 2^48 (RFC 3711 §9.2)
  BadMki,        // MKI value/length malformed, length outside 1..128, value too large for it,
                 // lengths differing between keys, or several keys without MKI (§6.1)
  TooManyKeys,   // more key parameters than libsrtp holds (16)
};
std::string_view toString(SdesError e);

struct SdesKey {
  std::array<std::byte, kMaxKeySaltLength> material{};
  uint8_t length = 0;                // bytes of material used: the suite's key + salt length
  std::optional<uint64_t> lifetime;  // packets; absent = the suite's maximum
  uint64_t mki = 0;
  uint8_t mkiLength = 0;  // 0 = no MKI

  std::span<const std::byte> keySalt() const { return {material.data(), length}; }
  MasterKey masterKey() const { return {keySalt(), mki, mkiLength}; }
};

struct SdesCrypto {
  uint32_t tag = 1;
  Suite suite = Suite::AesCm128HmacSha1_80;
  std::vector<SdesKey> keys;               // 1..16
  std::vector<std::string> sessionParams;  // kept verbatim, in order (§6.3)

  // Parses the attribute value (the text after "a=crypto:").
  static Expected<SdesCrypto, SdesError> parse(std::string_view value);
  // A fresh random key (OpenSSL RAND_bytes) without lifetime or MKI; nullopt if the RNG fails.
  static std::optional<SdesCrypto> generate(uint32_t tag, Suite suite);

  // The attribute value; parse(format()) gives back an equal SdesCrypto. Keys are padded base64.
  std::string format() const;
  // Views of keys for SrtpConfig::keys; valid while this object is.
  std::vector<MasterKey> masterKeys() const;
  // The first session parameter that changes how packets are processed and that SrtpContext does
  // not implement (KDR other than 0, UNENCRYPTED_SRTP/SRTCP, UNAUTHENTICATED_SRTP, FEC_KEY), or
  // nullopt. Parameters that only advise (WSH, FEC_ORDER=FEC_SRTP) and unknown ones pass.
  std::optional<std::string_view> unsupportedSessionParam() const;
};

}  // namespace rdv::srtp
