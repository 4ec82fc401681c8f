#include "common/Base64.h"

#include <gtest/gtest.h>

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace rdv::common {
namespace {

std::string text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

TEST(Base64Test, DecodesRfc4648Vectors) {
  std::array<std::byte, 8> out{};
  const std::pair<std::string_view, std::string_view> cases[] = {{"", ""},
                                                                 {"Zg==", "f"},
                                                                 {"Zm8=", "fo"},
                                                                 {"Zm9v", "foo"},
                                                                 {"Zm9vYg==", "foob"},
                                                                 {"Zm9vYmE=", "fooba"},
                                                                 {"Zm9vYmFy", "foobar"},
                                                                 {"Zm9vYg", "foob"}};
  for (const auto& [in, want] : cases) {
    const auto n = base64Decode(in, out);
    ASSERT_TRUE(n.has_value()) << in;
    EXPECT_EQ(text(std::span(out).first(*n)), want) << in;
    if (in.size() % 4 == 0) {
      EXPECT_EQ(base64Encode(std::span(out).first(*n)), in);
    }
  }
  EXPECT_FALSE(base64Decode("Zm9vY", out).has_value());         // 4n+1
  EXPECT_FALSE(base64Decode("Zm=9", out).has_value());          // padding inside
  EXPECT_FALSE(base64Decode("Zg=", out).has_value());           // padding short of a quantum
  EXPECT_FALSE(base64Decode("Zm9vYmFyZm9v", out).has_value());  // 9 bytes into 8
}

}  // namespace
}  // namespace rdv::common
