#include "signaling/sip/SipHeaderNames.h"

#include "signaling/sip/SipLex.h"

namespace rdv::sip {

namespace detail {

namespace {

// Canonical spellings (RFC 3261 §20 and extensions in common use).
constexpr KnownHeader kKnownHeaders[] = {
    {"Via", HeaderId::Via},
    {"From", HeaderId::From},
    {"To", HeaderId::To},
    {"Call-ID", HeaderId::CallId},
    {"CSeq", HeaderId::CSeq},
    {"Contact", HeaderId::Contact},
    {"Max-Forwards", HeaderId::MaxForwards},
    {"Content-Length", HeaderId::ContentLength},
    {"Route", HeaderId::Route},
    {"Record-Route", HeaderId::RecordRoute},
    {"Content-Type"},
    {"Accept"},
    {"Accept-Contact"},
    {"Accept-Encoding"},
    {"Accept-Language"},
    {"Alert-Info"},
    {"Allow"},
    {"Allow-Events"},
    {"Authentication-Info"},
    {"Authorization"},
    {"Call-Info"},
    {"Content-Disposition"},
    {"Content-Encoding"},
    {"Content-Language"},
    {"Date"},
    {"Error-Info"},
    {"Event"},
    {"Expires"},
    {"Identity"},
    {"Identity-Info"},
    {"In-Reply-To"},
    {"Join"},
    {"MIME-Version"},
    {"Min-Expires"},
    {"Min-SE"},
    {"Organization"},
    {"P-Asserted-Identity"},
    {"P-Preferred-Identity"},
    {"Path"},
    {"Priority"},
    {"Privacy"},
    {"Proxy-Authenticate"},
    {"Proxy-Authorization"},
    {"Proxy-Require"},
    {"RAck"},
    {"Reason"},
    {"Refer-To"},
    {"Referred-By"},
    {"Reject-Contact"},
    {"Replaces"},
    {"Reply-To"},
    {"Request-Disposition"},
    {"Require"},
    {"Retry-After"},
    {"RSeq"},
    {"Server"},
    {"Service-Route"},
    {"Session-Expires"},
    {"SIP-ETag"},
    {"SIP-If-Match"},
    {"Subject"},
    {"Subscription-State"},
    {"Supported"},
    {"Timestamp"},
    {"Unsupported"},
    {"User-Agent"},
    {"Warning"},
    {"WWW-Authenticate"},
};

}  // namespace

// RFC 3261 §7.3.3 compact forms, plus those registered later (RFC 3841, 3892, 4028, 4474, 6665).
KnownHeader lookupHeader(std::string_view name) {
  if (name.size() == 1) {
    // clang-format off
    switch (name[0] | 0x20) {
      case 'a': return {"Accept-Contact"};
      case 'b': return {"Referred-By"};
      case 'c': return {"Content-Type"};
      case 'd': return {"Request-Disposition"};
      case 'e': return {"Content-Encoding"};
      case 'f': return {"From", HeaderId::From};
      case 'i': return {"Call-ID", HeaderId::CallId};
      case 'j': return {"Reject-Contact"};
      case 'k': return {"Supported"};
      case 'l': return {"Content-Length", HeaderId::ContentLength};
      case 'm': return {"Contact", HeaderId::Contact};
      case 'n': return {"Identity-Info"};
      case 'o': return {"Event"};
      case 'r': return {"Refer-To"};
      case 's': return {"Subject"};
      case 't': return {"To", HeaderId::To};
      case 'u': return {"Allow-Events"};
      case 'v': return {"Via", HeaderId::Via};
      case 'x': return {"Session-Expires"};
      case 'y': return {"Identity"};
      default: return {name};
    }
    // clang-format on
  }
  for (const KnownHeader& known : kKnownHeaders) {
    if (known.name.size() == name.size() && equalsIgnoreCase(known.name, name)) {
      return known;
    }
  }
  return {name};
}

}  // namespace detail

std::string_view canonicalHeaderName(std::string_view name) {
  return detail::lookupHeader(name).name;
}

}  // namespace rdv::sip
