#include "media/dtls/DtlsRecord.h"

namespace rdv::dtls {
namespace {

constexpr size_t kMaxFragment = (1U << 14) + 2048;

uint16_t be16(std::span<const std::byte> b, size_t at) {
  return static_cast<uint16_t>((std::to_integer<uint16_t>(b[at]) << 8) | std::to_integer<uint16_t>(b[at + 1]));
}

}  // namespace

const char* toString(RecordError e) {
  switch (e) {
    case RecordError::Empty: return "empty";
    case RecordError::Truncated: return "truncated";
    case RecordError::BadContentType: return "bad_content_type";
    case RecordError::BadVersion: return "bad_version";
    case RecordError::TooLong: return "too_long";
    case RecordError::kCount: break;
  }
  return "unknown";
}

Expected<DatagramInfo, RecordError> parseDatagram(std::span<const std::byte> d) {
  if (d.empty()) return Unexpected(RecordError::Empty);
  DatagramInfo info;
  size_t at = 0;
  while (at < d.size()) {
    if (d.size() - at < kRecordHeader) return Unexpected(RecordError::Truncated);
    const auto type = std::to_integer<uint8_t>(d[at]);
    if (type < 20 || type > 23) return Unexpected(RecordError::BadContentType);
    const uint16_t version = be16(d, at + 1);
    if (version != 0xFEFF && version != 0xFEFD) return Unexpected(RecordError::BadVersion);
    const uint16_t epoch = be16(d, at + 3);
    const size_t length = be16(d, at + 11);
    if (length > kMaxFragment) return Unexpected(RecordError::TooLong);
    if (d.size() - at - kRecordHeader < length) return Unexpected(RecordError::Truncated);
    if (info.records == 0) {
      info.clientHello = type == 22 && epoch == 0 && length > 0 && std::to_integer<uint8_t>(d[at + kRecordHeader]) == 1;
    }
    ++info.records;
    at += kRecordHeader + length;
  }
  return info;
}

}  // namespace rdv::dtls
