#pragma once
// The registrar's location service: address-of-record -> contact bindings (RFC 3261 §10.3).
//
// Pure state: no sockets, no SIP parsing. The SIP layer authenticates the REGISTER, extracts a
// RegisterRequest, calls apply() with the current time and turns the RegisterResult into a
// response (200 lists every binding with its remaining expiry, 423 carries Min-Expires).
// Steps 1-4 of §10.3 (domain, authentication, To/From authorization) belong to the SIP layer.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rdv::sip {

struct Binding {
  std::string contact;  // the Contact URI as registered (without <>)
  std::string callId;
  uint32_t cseq = 0;
  uint64_t expiresAtMs = 0;  // live while nowMs < expiresAtMs
  float q = 1.0f;
  // NAT awareness (RFC 3581/5626 spirit): where the REGISTER really came from; requests to this
  // contact go there.
  std::string sourceIp;
  uint16_t sourcePort = 0;
  std::string transport;      // "udp" / "tcp" / "tls" (stored lowercased)
  // Stream transport connection the REGISTER arrived on (0 for UDP). The binding outlives it:
  // once it has closed, requests open a new connection (RFC 3261 §18.1.1).
  uint64_t connectionId = 0;
};

// Seconds until `b` expires, rounded up, for the Contact expires parameter of a 200 (§10.3 step 8).
uint32_t remainingExpires(const Binding& b, uint64_t nowMs);

struct RegisterRequest {  // what the SIP layer extracted from a REGISTER
  std::string aor;        // canonical "sip:user@domain" of the To URI (see canonicalAor)
  // Contact URIs (without <>) and their expires parameter, in header order.
  std::vector<std::pair<std::string /*contact uri*/, std::optional<uint32_t> /*expires param*/>> contacts;
  // q parameter of contacts[i] (RFC 3261 §20.10, 0..1). May be shorter than contacts (or empty):
  // missing entries mean 1.0.
  std::vector<float> qValues;
  bool star = false;  // Contact: *
  std::optional<uint32_t> expiresHeader;
  std::string callId;
  uint32_t cseq = 0;
  std::string sourceIp;
  uint16_t sourcePort = 0;
  std::string transport;
  uint64_t connectionId = 0;
};

// status 200: bindings holds every live binding of the AOR after the update, highest q first.
// status 400: reason "Contact * with other contacts" / "Contact * needs Expires: 0".
// status 403: reason "Too many contacts" (the request alone names more than maxContactsPerAor).
// status 423: "Interval Too Brief", minExpires set (§10.3 step 7 / §21.4.17).
// status 500: "Out of order CSeq" (§10.3 steps 6-7: same Call-ID, CSeq not higher than stored).
// Anything but 200 leaves the store unchanged (§10.3 step 7: all updates or none).
struct RegisterResult {
  int status = 200;
  std::string reason;
  std::vector<Binding> bindings;
  uint32_t minExpires = 0;
};

// RFC 3261 §10.3 step 5 canonical form of a SIP/SIPS URI, used as the AOR index:
// "sip:user@host[:port]" with the scheme and host lowercased, %XX escapes in the user part
// decoded, the password, URI parameters and headers removed, and the default port (5060 for sip,
// 5061 for sips) dropped. Accepts surrounding whitespace and <>. Returns "" for anything that is
// not a sip/sips URI with a host (tel:, bad escapes, bad port, empty host).
std::string canonicalAor(std::string_view uriText);

class Registrar {
 public:
  Registrar(uint32_t minExpires = 60, uint32_t maxExpires = 3600, uint32_t defaultExpires = 3600,
            size_t maxContactsPerAor = 10);

  // RFC 3261 §10.3 steps 5-8 for one REGISTER:
  //  - no Contact: a query, 200 with the current bindings;
  //  - Contact: * needs Expires: 0 and no other contact; removes all bindings of the AOR;
  //  - otherwise each contact's expiry is its expires parameter, else the Expires header, else
  //    defaultExpires; 0 removes the binding, 0 < e < minExpires fails with 423, larger values are
  //    clamped to maxExpires;
  //  - a binding with the request's Call-ID is changed only by a higher CSeq, otherwise the whole
  //    request fails with 500 "Out of order CSeq"; a different Call-ID replaces it;
  //  - contacts are matched by exact URI text (a client re-registers with the Contact it used);
  //  - a refresh also moves the binding to the request's source address and connection;
  //  - past maxContactsPerAor, the bindings this request did not mention are evicted, soonest
  //    expiring first, to make room (a phone whose NAT mapping changed must not lock itself out).
  RegisterResult apply(const RegisterRequest& r, uint64_t nowMs);

  // Live bindings of the canonical AOR, highest q first (ties: latest expiry first).
  std::vector<Binding> lookup(std::string_view aor, uint64_t nowMs) const;

  // Removes expired bindings (and AORs left empty); returns how many bindings went.
  size_t purge(uint64_t nowMs);

  size_t aorCount() const { return aors_.size(); }
  // Stored bindings, including expired ones that purge() has not removed yet.
  size_t bindingCount() const { return bindingCount_; }

  // Live UDP bindings: a UDP client may sit behind a NAT whose mapping closes when idle, so the
  // SIP layer sends a CRLF or OPTIONS to sourceIp:sourcePort periodically (RFC 5626 §3.5 spirit).
  // All of them, not only those whose Contact differs from the source address (RFC 3581 §1): a
  // client that learned its public address (STUN, rport) advertises it and still needs the
  // mapping held open. Stream transports keep their own connection alive. Several bindings may
  // share one flow; the caller may send one keepalive per (sourceIp, sourcePort).
  std::vector<Binding> keepaliveTargets(uint64_t nowMs) const;

  uint32_t minExpires() const { return minExpires_; }
  uint32_t maxExpires() const { return maxExpires_; }

 private:
  // Replaces the AOR's bindings (erasing the AOR when empty), keeping bindingCount_ in step.
  void store(const std::string& aor, std::vector<Binding> bindings);

  uint32_t minExpires_;
  uint32_t maxExpires_;
  uint32_t defaultExpires_;
  size_t maxContactsPerAor_;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<Binding>, StringHash, std::equal_to<>> aors_;
  size_t bindingCount_ = 0;
};

}  // namespace rdv::sip
