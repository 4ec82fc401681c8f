#pragma once
// SDP (RFC 8866, formerly RFC 4566) parsing and rewriting for a B2BUA that relays media: the
// relay rewrites addresses and ports and strips or adds attributes, and must keep every line it
// does not understand. A session is therefore kept as its lines in order; only m= lines are split
// into fields (they are rebuilt from those fields on output).
//
// Every view returned by an accessor points into the object's lines and lives until that object
// is next modified.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"

namespace rdv::sdp {

struct SdpError {
  size_t line;  // 1-based line number; 0 when the problem is the document as a whole
  std::string reason;
};

// One "<type>=<value>" line: "a=rtcp-mux" is {'a', "rtcp-mux"}. Values never contain CR, LF or
// NUL (RFC 8866 §9 byte-string); code that builds lines must keep it so.
struct SdpLine {
  char type;
  std::string value;
};

// A media description (RFC 8866 §5.14): the m= line's fields and the lines that follow it.
class SdpMedia {
 public:
  std::string media;                  // "audio", "video", "application", ...
  uint16_t port = 0;
  std::optional<uint16_t> portCount;  // the "/<n>" after the port
  std::string proto;                  // "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", ...
  std::vector<std::string> formats;
  std::vector<SdpLine> lines;  // the lines after m= (i=, c=, b=, k=, a=, unknown) in order

  // Address of this section's first c= line (including any "/ttl" suffix), if any.
  std::optional<std::string> connectionAddress() const;
  // Makes this section's connection "c=IN <addrType> <address>": replaces the first c= and drops
  // any further ones (RFC 8866 §5.7 allows several for multicast layers), or inserts one after
  // i= and before b=/k=/a= (RFC 8866 §5 ordering). Preconditions: addrType is "IP4" or "IP6",
  // address is non-empty without spaces, CR, LF or NUL.
  void setConnection(std::string_view addrType, std::string_view address);

  // Value of the first "a=name:value", "" for a flag "a=name", nullopt when absent.
  std::optional<std::string_view> attribute(std::string_view name) const;
  bool hasAttribute(std::string_view name) const;
  void removeAttributes(std::string_view name);
  // Replaces the first a=name line, or appends one at the end of the section. nullopt writes a
  // flag attribute. Precondition: name and value contain no CR, LF or NUL; name has no ':'.
  void setAttribute(std::string_view name, std::optional<std::string_view> value);

  // "<encoding>/<rate>[/<params>]" of the first "a=rtpmap:<pt> ..." for payloadType
  // (RFC 8866 §6.6), leading and trailing whitespace trimmed; nullopt when absent.
  std::optional<std::string_view> rtpmap(uint8_t payloadType) const;
  // Clock rate from that rtpmap. No fallback to the RFC 3551 static table; nullopt when absent,
  // malformed or 0.
  std::optional<uint32_t> clockRate(uint8_t payloadType) const;
  // Port of "a=rtcp:<port> [<nettype> <addrtype> <address>]" (RFC 3605 §2.1).
  std::optional<uint16_t> rtcpPort() const;
  // "a=rtcp-mux" present (RFC 5761 §5.1.1).
  bool rtcpMux() const;
};

class SdpSession {
 public:
  std::vector<SdpLine> lines;  // session-level lines in order (v=, o=, s=, c=, t=, a=, ...)
  std::vector<SdpMedia> media;

  static constexpr size_t kMaxTextBytes = 64 * 1024;
  static constexpr size_t kMaxLines = 1000;
  static constexpr size_t kMaxMedia = 64;

  // Parses an SDP body (RFC 8866 §5). Guarantees on success:
  //  - v=0 is the first line; exactly one o= (6 fields) and one s= at session level; at most one
  //    session c=; v=, o=, s=, u=, e=, p=, t=, r=, z= do not appear inside media sections;
  //  - every c= is "IN IP4|IP6 <address>" (RFC 8866 §5.7);
  //  - every m= is "<media> <port>[/<n>] <proto> <fmt> ..." with port and n <= 65535 (§5.14);
  //  - line types are lowercase letters; values hold no CR, LF or NUL.
  // Lines end in CRLF or LF; empty lines are accepted only at the end. Unknown line types and
  // attributes are kept. Limits: kMaxTextBytes (counting line ends as CRLF, so the serialized
  // form is also within limits), kMaxLines lines, kMaxMedia media sections.
  static Expected<SdpSession, SdpError> parse(std::string_view text);

  // CRLF line endings, m= lines rebuilt from the fields. For a parsed session,
  // parse(serialize()) succeeds and serializes to the same text.
  std::string serialize() const;

  // Address of the session-level c=, if any.
  std::optional<std::string> connectionAddress() const;
  // Replaces the session c= (dropping extras), or inserts one where RFC 8866 §5 places it: after
  // v/o/s/i/u/e/p, before b=/t=/r=/z=/k=/a=. Preconditions as SdpMedia::setConnection.
  void setConnection(std::string_view addrType, std::string_view address);
  // Replaces o= fields 5 and 6 (<addrtype> <unicast-address>, RFC 8866 §5.2), leaving the other
  // fields. No effect without a 6-field o=. The session version is the caller's business
  // (RFC 3264 §8 wants it bumped when the offer changes).
  void setOriginAddress(std::string_view addrType, std::string_view address);

  // Session-level attributes; the same contracts as the SdpMedia functions.
  bool hasAttribute(std::string_view name) const;
  std::optional<std::string_view> attribute(std::string_view name) const;
  void removeAttributes(std::string_view name);
  void setAttribute(std::string_view name, std::optional<std::string_view> value);

  // Connection address for media[index]: its own c=, else the session c= (RFC 8866 §5.7).
  // nullopt when index is out of range or neither exists.
  std::optional<std::string> mediaConnectionAddress(size_t index) const;
};

// Removes the ICE (RFC 8839 §5) attributes at session and media level: candidate,
// remote-candidates, ice-ufrag, ice-pwd, ice-options, ice-lite, ice-mismatch, end-of-candidates,
// ice-pacing. Other attributes keep their order.
void removeIceAttributes(SdpSession& sdp);

}  // namespace rdv::sdp
