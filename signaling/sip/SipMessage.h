#pragma once
// SIP message (RFC 3261 §7 message format, §20 header fields, §25 grammar; RFC 3581 rport): the
// parsed message type and its parser for one complete message. Stream framing (§18.3) is in
// SipFraming.h, responses (§8.2.6) in SipResponse.h, the best-effort 400 for unparsable bytes in
// SipBadRequest.h; header values are parsed with SipUri.h, NameAddr.h and Via.h.
//
// A parsed SipMessage owns its bytes; every view it returns points into them (or, for canonical
// header names, into static storage) and lives as long as the object, across moves and copies.
// Reason phrases of parse errors are listed at the top of SipMessage.cc and are stable: they go
// on the wire as the reason phrase of the error response.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"
#include "signaling/sip/SipHeaderNames.h"
#include "signaling/sip/SipMethod.h"

namespace rdv::sip {

// One header line. name: the canonical long form for known headers ("Call-ID", "Via",
// "Content-Length", ...; the compact forms a b c d e f i j k l m n o r s t u v x y are expanded),
// other names as written. value: trimmed; may contain a fold (CRLF or LF then SP/HT), which the
// value helpers (SipLex.h) treat as whitespace.
struct SipHeader {
  std::string_view name;
  std::string_view value;
};

class SipMessage {
 public:
  static constexpr size_t kMaxMessageSize = 64 * 1024;
  static constexpr size_t kMaxHeaders = 256;

  // Parses one complete message: a UDP datagram, or a frame cut by sipFrameLength. Guarantees on
  // success:
  //  - start line: "METHOD Request-URI SIP/2.0" with single spaces, method a token, the URI an
  //    absoluteURI (sip/sips/tel ones valid per SipUri::parse, sip/sips without ?headers); or
  //    "SIP/2.0 NNN reason" with NNN in 100..699 (SIP version case-insensitive);
  //  - header lines are "name: value" with a token name, no NUL or other control character,
  //    lines end in CRLF (bare LF tolerated), folds allowed; at most kMaxHeaders lines;
  //  - requests and responses carry Call-ID (a word["@"word] list), CSeq "<n < 2^31> <method>",
  //    From and To (valid name-addr), and at least one Via (every element valid per Via::parse);
  //    Call-ID, CSeq, From, To, Content-Length and Max-Forwards appear at most once;
  //  - every Contact/Route/Record-Route element is a valid NameAddr; Max-Forwards, when present,
  //    is 0..255;
  //  - for requests, the CSeq method equals the request method (byte for byte);
  //  - Content-Length, when present, is decimal and not larger than the body; a smaller one
  //    truncates the body (RFC 3261 §18.3, extra datagram bytes are dropped); without it the body
  //    is the rest of the datagram;
  //  - at most kMaxMessageSize bytes (not counting leading CR/LF, which are dropped).
  // raw() is the message as understood: leading CR/LF and bytes past Content-Length removed.
  static Expected<SipMessage, SipError> parse(std::string bytes);

  SipMessage(const SipMessage& other);
  SipMessage& operator=(const SipMessage& other);
  SipMessage(SipMessage&&) noexcept = default;
  SipMessage& operator=(SipMessage&&) noexcept = default;
  ~SipMessage() = default;

  bool isRequest() const { return isRequest_; }
  // Requests.
  SipMethod method() const { return method_; }
  std::string_view methodText() const { return methodText_; }
  std::string_view requestUri() const { return requestUri_; }
  // Responses.
  int status() const { return status_; }
  std::string_view reason() const { return reason_; }

  // First value of that header (canonical or compact name accepted, case-insensitive), the whole
  // line's value (not split at commas); "" if absent.
  std::string_view header(std::string_view name) const;
  // All values of that header over all its lines, split at commas outside quotes and <> and
  // trimmed, empty elements skipped. Meant for list headers (Via, Contact, Route, Record-Route,
  // Allow, Supported, ...); a header whose grammar has commas elsewhere (Date, WWW-Authenticate)
  // is not a list.
  std::vector<std::string_view> headerList(std::string_view name) const;
  const std::vector<SipHeader>& headers() const { return headers_; }
  std::string_view body() const { return body_; }

  std::string_view callId() const { return callId_; }
  uint32_t cseq() const { return cseq_; }
  SipMethod cseqMethod() const { return cseqMethod_; }
  std::string_view cseqMethodText() const { return cseqMethodText_; }
  // tag params of From / To ("" if none).
  std::string_view fromTag() const { return fromTag_; }
  std::string_view toTag() const { return toTag_; }
  // branch of the first Via element ("" for an RFC 2543 sender without one).
  std::string_view topViaBranch() const { return topViaBranch_; }
  // Max-Forwards value, nullopt when absent.
  std::optional<int> maxForwards() const { return maxForwards_; }
  const std::string& raw() const { return *raw_; }

  // Where the message came from, set by the transport (RFC 3261 §18.2.1, RFC 3581 §4). When set,
  // buildResponse stamps the copied top Via: received=<ip> when the sent-by host differs from it
  // or rport is present, and rport=<port> when the request carried rport. ip is an address
  // without brackets; "" (the default) means unknown, and nothing is stamped.
  void setSource(std::string_view ip, uint16_t port);
  std::string_view sourceIp() const { return sourceIp_; }
  uint16_t sourcePort() const { return sourcePort_; }

 private:
  struct HeaderTally;  // what the header section has held so far (SipMessage.cc)

  SipMessage() = default;
  // The steps of parse() over raw_, each reporting the first problem it finds.
  std::optional<SipError> parseOwned();
  std::optional<SipError> parseStartLine(std::string_view line);
  std::optional<SipError> parseStatusLine(std::string_view line);
  std::optional<SipError> parseRequestLine(std::string_view line);
  // Reads header lines from pos up to and including the empty line; pos ends at the body.
  std::optional<SipError> parseHeaderSection(size_t& pos, HeaderTally& tally);
  std::optional<SipError> checkHeader(const detail::KnownHeader& known, std::string_view value,
                                      HeaderTally& tally);
  std::optional<SipError> checkWholeMessage(const HeaderTally& tally) const;
  std::optional<SipError> cutBody(size_t bodyStart, std::optional<uint64_t> contentLength);
  void rebaseViews(uintptr_t oldBase, size_t oldSize);

  std::unique_ptr<std::string> raw_;  // heap-held so views survive moves of the object
  std::vector<SipHeader> headers_;
  bool isRequest_ = false;
  SipMethod method_ = SipMethod::Unknown;
  std::string_view methodText_, requestUri_;
  int status_ = 0;
  std::string_view reason_;
  std::string_view body_;
  std::string_view callId_;
  uint32_t cseq_ = 0;
  SipMethod cseqMethod_ = SipMethod::Unknown;
  std::string_view cseqMethodText_;
  std::string_view fromTag_, toTag_, topViaBranch_;
  std::optional<int> maxForwards_;
  std::string sourceIp_;
  uint16_t sourcePort_ = 0;
};

}  // namespace rdv::sip
