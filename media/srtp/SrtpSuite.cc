#include "media/srtp/SrtpSuite.h"

#include <array>

namespace rdv::srtp {

namespace {

constexpr std::array<SuiteInfo, kSuiteCount> kSuites{{
    {"AES_CM_128_HMAC_SHA1_80", 16, 14, 10, 10, false},
    {"AES_CM_128_HMAC_SHA1_32", 16, 14, 4, 10, false},
    {"AEAD_AES_128_GCM", 16, 12, 16, 16, true},
    {"AEAD_AES_256_GCM", 32, 12, 16, 16, true},
}};

}  // namespace

const SuiteInfo& suiteInfo(Suite s) {
  return kSuites[static_cast<size_t>(s)];
}

std::optional<Suite> suiteFromName(std::string_view name) {
  for (size_t i = 0; i < kSuites.size(); ++i) {
    if (kSuites[i].name == name) return static_cast<Suite>(i);
  }
  return std::nullopt;
}

}  // namespace rdv::srtp
