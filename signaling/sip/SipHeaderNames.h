#pragma once
// Header field names (RFC 3261 §7.3, §20): canonical spellings and compact forms (§7.3.3).

#include <cstdint>
#include <string_view>

namespace rdv::sip {

// Canonical form of a header name as SipHeader::name holds it ("i" and "CALL-ID" -> "Call-ID");
// unknown names come back as given. The result points into static storage for known names, into
// `name` otherwise.
std::string_view canonicalHeaderName(std::string_view name);

namespace detail {

// Internal to signaling/sip: the headers SipMessage::parse checks (everything else is kept
// without looking inside).
enum class HeaderId : uint8_t {
  Other,
  CallId,
  CSeq,
  From,
  To,
  Via,
  Contact,
  Route,
  RecordRoute,
  ContentLength,
  MaxForwards
};

struct KnownHeader {
  std::string_view name;  // canonical, or as given when unknown
  HeaderId id = HeaderId::Other;
};

// The canonical name (case-insensitive match, compact forms expanded) and which checked header
// it is.
KnownHeader lookupHeader(std::string_view name);

}  // namespace detail

}  // namespace rdv::sip
