#pragma once
// The record layer framing of a DTLS datagram (RFC 6347 §4.1), checked before OpenSSL sees it:
// a datagram on a media port whose first byte says DTLS (RFC 7983 §7) must be one or more whole
// records of a known content type and version. Anything else is dropped and counted by the caller
// without costing a handshake attempt. Pure function over bytes.

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/Expected.h"

namespace rdv::dtls {

enum class RecordError : uint8_t { Empty, Truncated, BadContentType, BadVersion, TooLong, kCount };
const char* toString(RecordError e);

struct DatagramInfo {
  uint32_t records = 0;
  // The first record is a ClientHello fragment (handshake, epoch 0, msg_type 1): what starts or
  // restarts a handshake on the server side.
  bool clientHello = false;
};

// The one checked entry point: every record header complete, content type 20..23 (change cipher
// spec, alert, handshake, application data), version DTLS 1.0 or 1.2 (0xFEFF, 0xFEFD), fragment
// within the datagram and at most 2^14 + 2048 bytes (RFC 6347 §4.1.1, TLSCiphertext bound).
Expected<DatagramInfo, RecordError> parseDatagram(std::span<const std::byte> datagram);

inline constexpr size_t kRecordHeader = 13;

}  // namespace rdv::dtls
