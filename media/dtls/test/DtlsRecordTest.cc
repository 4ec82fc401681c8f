// parseDatagram: the DTLS record framing checked before OpenSSL sees a datagram (RFC 6347 §4.1).

#include <vector>

#include <gtest/gtest.h>

#include "media/dtls/DtlsRecord.h"

namespace rdv::dtls {
namespace {

std::vector<std::byte> record(uint8_t type, uint16_t epoch, std::vector<uint8_t> body, uint16_t version = 0xFEFD) {
  std::vector<uint8_t> r = {type, static_cast<uint8_t>(version >> 8), static_cast<uint8_t>(version),
                            static_cast<uint8_t>(epoch >> 8), static_cast<uint8_t>(epoch), 0, 0, 0, 0, 0, 1,
                            static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())};
  r.insert(r.end(), body.begin(), body.end());
  std::vector<std::byte> out(r.size());
  for (size_t i = 0; i < r.size(); ++i) out[i] = std::byte(r[i]);
  return out;
}

TEST(DtlsRecord, ClientHelloIsRecognisedInTheFirstRecord) {
  auto d = record(22, 0, {1, 0, 0, 0});
  auto r = parseDatagram(d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->records, 1U);
  EXPECT_TRUE(r->clientHello);
  EXPECT_FALSE(parseDatagram(record(22, 1, {1, 0}))->clientHello) << "epoch 1 is encrypted";
  EXPECT_FALSE(parseDatagram(record(22, 0, {2, 0}))->clientHello) << "ServerHello";
  EXPECT_FALSE(parseDatagram(record(21, 0, {2, 40}))->clientHello) << "alert";
}

TEST(DtlsRecord, SeveralRecordsInOneDatagramAreCounted) {
  auto d = record(22, 0, {2, 0, 0});
  auto e = record(20, 0, {1}, 0xFEFF);
  d.insert(d.end(), e.begin(), e.end());
  auto r = parseDatagram(d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->records, 2U);
}

TEST(DtlsRecord, BrokenFramingIsRefusedWithAReason) {
  EXPECT_EQ(parseDatagram({}).error(), RecordError::Empty);
  auto d = record(22, 0, {1, 2, 3});
  EXPECT_EQ(parseDatagram(std::span(d).first(d.size() - 1)).error(), RecordError::Truncated);
  EXPECT_EQ(parseDatagram(std::span(d).first(5)).error(), RecordError::Truncated);
  EXPECT_EQ(parseDatagram(record(19, 0, {1})).error(), RecordError::BadContentType);
  EXPECT_EQ(parseDatagram(record(24, 0, {1})).error(), RecordError::BadContentType);
  EXPECT_EQ(parseDatagram(record(22, 0, {1}, 0x0303)).error(), RecordError::BadVersion);
  auto two = record(22, 0, {1});
  two.push_back(std::byte{22});  // a second header cut short
  EXPECT_EQ(parseDatagram(two).error(), RecordError::Truncated);
  std::vector<uint8_t> big(20000, 0);
  EXPECT_EQ(parseDatagram(record(23, 1, big)).error(), RecordError::TooLong);
}

}  // namespace
}  // namespace rdv::dtls
