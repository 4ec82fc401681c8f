#pragma once
// SIP message codec (RFC 3261 §7 message format, §20 header fields, §25 grammar; RFC 3581 rport):
// parsing of one complete message, stream framing (§18.3), and building of responses (§8.2.6).
//
// A parsed SipMessage owns its bytes; every view it returns points into them (or, for canonical
// header names, into static storage) and lives as long as the object, across moves and copies.
// Reason phrases of parse errors are listed at the top of SipMessage.cc and are stable: they go
// on the wire as the reason phrase of the error response.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "signaling/sip/SipUri.h"

namespace rdv::sip {

enum class SipMethod : uint8_t {
  Invite,
  Ack,
  Bye,
  Cancel,
  Options,
  Register,
  Update,
  Prack,
  Info,
  Message,
  Refer,
  Notify,
  Subscribe,
  Publish,
  Unknown
};

// Method names are case-sensitive (RFC 3261 §7.1): "invite" is Unknown.
SipMethod methodFromName(std::string_view name);
// "INVITE", ...; "" for Unknown (use the message's methodText()).
std::string_view methodName(SipMethod method);

// One header line. name: the canonical long form for known headers ("Call-ID", "Via",
// "Content-Length", ...; the compact forms a b c d e f i j k l m n o r s t u v x y are expanded),
// other names as written. value: trimmed; may contain a fold (CRLF or LF then SP/HT), which the
// value helpers (SipUri.h) treat as whitespace.
struct SipHeader {
  std::string_view name;
  std::string_view value;
};

// Canonical form of a header name as SipHeader::name holds it ("i" and "CALL-ID" -> "Call-ID");
// unknown names come back as given.
std::string_view canonicalHeaderName(std::string_view name);

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
  SipMessage() = default;
  std::optional<SipError> parseOwned();
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

// RFC 3261 §18.3 stream framing: length of the first complete message at the start of buf
// (headers + Content-Length body); 0 if more bytes are needed. Errors: the header section or the
// whole frame exceeds maxSize (513 "Message Too Large"), Content-Length missing ("Missing
// Content-Length header", mandatory on streams), malformed, repeated, or larger than maxSize.
// Leading CR/LF (keep-alives, RFC 5626 §3.5.1) should be dropped with skipKeepalive first; any
// that are left are counted in the frame (and parse() drops them). maxSize excludes them.
Expected<size_t, SipError> sipFrameLength(std::string_view buf, size_t maxSize = SipMessage::kMaxMessageSize);
// How many leading CR/LF bytes of buf are keep-alives to drop.
size_t skipKeepalive(std::string_view buf);

// Builds a response to `req` (RFC 3261 §8.2.6): status line with the given reason; all Via lines
// (in order; the top one stamped as setSource describes), From, To (adding ";tag=<toTag>" if To
// has no tag, toTag is non-empty and status > 100), Call-ID, CSeq; then `extraHeaders` (each
// "Name: value", no CRLF); then Content-Type (when contentType is non-empty), Content-Length and
// the body. Folds in copied values become plain whitespace. Preconditions: req.isRequest(),
// status in 100..699, reason and extraHeaders without CR/LF.
std::string buildResponse(const SipMessage& req, int status, std::string_view reason,
                          std::string_view toTag = {}, std::span<const std::string> extraHeaders = {},
                          std::string_view body = {}, std::string_view contentType = {});

// Best-effort 400 for bytes that did not parse: if Via, From, To, Call-ID and CSeq can be found by a
// lenient line scan (any line ending, compact names) and hold no control characters, answers with
// them, adding a To tag derived from the request when To has none (RFC 3261 §8.2.6.2; the same
// bytes always get the same tag, so retransmissions match). "" when not even that is possible,
// or when the bytes look like a response (responses are never answered); then the caller drops
// and counts. Precondition: reason has no CR/LF.
std::string buildBadRequest(std::string_view rawBytes, std::string_view reason);
// The same with the error's status (e.g. 505, 513) and reason.
std::string buildBadRequest(std::string_view rawBytes, const SipError& error);

}  // namespace rdv::sip
