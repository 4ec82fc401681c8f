#include "signaling/sip/Registrar.h"

#include <algorithm>

#include "signaling/sip/SipLex.h"
#include "signaling/sip/SipUri.h"

namespace rdv::sip {
namespace {

constexpr uint64_t kMsPerSecond = 1000;

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 3261 §19.1.4 URI equality, as a registrar needs it for Contact matching: scheme and host
// case-insensitive, user and port exact; user/ttl/method/maddr/transport parameters must agree
// even when only one side has them (a default value written out does not equal its omission);
// other parameters only when both have them. So <sip:a@H;transport=UDP> equals
// <sip:a@h;transport=udp;ob> but not <sip:a@h>.
bool sameContactUri(std::string_view x, std::string_view y) {
  auto a = SipUri::parse(x);
  auto b = SipUri::parse(y);
  if (!a || !b) return x == y;
  if (!equalsIgnoreCase(a->scheme, b->scheme) || a->user != b->user || a->password != b->password ||
      !equalsIgnoreCase(a->host, b->host) || a->port != b->port) {
    return false;
  }
  for (std::string_view name : {"user", "ttl", "method", "maddr", "transport"}) {
    auto pa = a->param(name);
    auto pb = b->param(name);
    if (pa && pb) {
      if (!equalsIgnoreCase(*pa, *pb)) return false;
    } else if (pa.has_value() != pb.has_value()) {
      return false;
    }
  }
  return true;
}

// The pieces of "sip[s]:[user[:password]@]host[:port][;params][?headers]" (RFC 3261 §19.1.1)
// that the registrar needs. Views into the input.
struct SipUriParts {
  bool secure = false;
  std::string_view user;  // still %-escaped
  std::string_view host;  // IPv6 references keep their brackets
  std::optional<uint16_t> port;
};

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

std::optional<SipUriParts> splitSipUri(std::string_view text) {
  std::string_view s = trimLws(text);
  if (const size_t lt = s.find('<'); lt != std::string_view::npos) {  // name-addr form
    const size_t gt = s.find('>', lt);
    if (gt == std::string_view::npos) return std::nullopt;
    s = trimLws(s.substr(lt + 1, gt - lt - 1));
  }
  SipUriParts parts;
  if (s.size() >= 4 && equalsIgnoreCase(s.substr(0, 4), "sip:")) {
    s.remove_prefix(4);
  } else if (s.size() >= 5 && equalsIgnoreCase(s.substr(0, 5), "sips:")) {
    parts.secure = true;
    s.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  // '@' cannot appear unescaped in the host, parameters or headers, so the first one ends userinfo.
  if (const size_t at = s.find('@'); at != std::string_view::npos) {
    std::string_view userinfo = s.substr(0, at);
    parts.user = userinfo.substr(0, userinfo.find(':'));  // a password follows ':' (§19.1.1)
    if (parts.user.empty()) return std::nullopt;
    s.remove_prefix(at + 1);
  }
  size_t i = 0;
  if (!s.empty() && s[0] == '[') {  // IPv6reference
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    for (size_t k = 1; k < close; ++k) {
      if (hexDigitValue(s[k]) < 0 && s[k] != ':' && s[k] != '.') return std::nullopt;
    }
    i = close + 1;
  } else {
    while (i < s.size() && isHostChar(s[i])) ++i;
    if (i == 0) return std::nullopt;
  }
  parts.host = s.substr(0, i);
  if (i < s.size() && s[i] == ':') {
    ++i;
    const size_t start = i;
    uint32_t port = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      port = port * 10 + static_cast<uint32_t>(s[i] - '0');
      if (port > 65535) return std::nullopt;
      ++i;
    }
    if (i == start) return std::nullopt;
    parts.port = static_cast<uint16_t>(port);
  }
  if (i < s.size() && s[i] != ';' && s[i] != '?') return std::nullopt;
  return parts;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hexDigitValue(s[i + 1]);
    const int lo = hexDigitValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Highest q first; among equals the binding that lasts longest (the freshest registration).
void sortByPreference(std::vector<Binding>& bindings) {
  std::stable_sort(bindings.begin(), bindings.end(), [](const Binding& a, const Binding& b) {
    if (a.q != b.q) return a.q > b.q;
    return a.expiresAtMs > b.expiresAtMs;
  });
}

bool isLive(const Binding& b, uint64_t nowMs) {
  return nowMs < b.expiresAtMs;
}

RegisterResult failure(int status, std::string reason) {
  RegisterResult r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

uint32_t remainingExpires(const Binding& b, uint64_t nowMs) {
  if (!isLive(b, nowMs)) return 0;
  const uint64_t seconds = (b.expiresAtMs - nowMs + kMsPerSecond - 1) / kMsPerSecond;
  return static_cast<uint32_t>(std::min<uint64_t>(seconds, UINT32_MAX));
}

std::string canonicalAor(std::string_view uriText) {
  const auto parts = splitSipUri(uriText);
  if (!parts) return {};
  std::string out = parts->secure ? "sips:" : "sip:";
  if (!parts->user.empty()) {
    const auto user = unescape(parts->user);
    if (!user || user->empty()) return {};
    out += *user;
    out += '@';
  }
  out += lowered(parts->host);
  const uint16_t defaultPort = parts->secure ? 5061 : 5060;
  if (parts->port && *parts->port != defaultPort) {
    out += ':';
    out += std::to_string(*parts->port);
  }
  return out;
}

Registrar::Registrar(uint32_t minExpires, uint32_t maxExpires, uint32_t defaultExpires,
                     size_t maxContactsPerAor)
    : minExpires_(minExpires),
      maxExpires_(std::max(maxExpires, minExpires)),
      defaultExpires_(std::clamp(defaultExpires, minExpires_, maxExpires_)),
      maxContactsPerAor_(std::max<size_t>(maxContactsPerAor, 1)) {}

RegisterResult Registrar::apply(const RegisterRequest& r, uint64_t nowMs) {
  if (r.aor.empty()) return failure(400, "Invalid address of record");

  // Work on a copy without the expired bindings; commit only if every step succeeds (§10.3 step 7).
  std::vector<Binding> current;
  if (auto it = aors_.find(r.aor); it != aors_.end()) {
    for (const Binding& b : it->second) {
      if (isLive(b, nowMs)) current.push_back(b);
    }
  }

  // §10.3 step 6: Contact: * removes everything, but only with Expires: 0 and on its own.
  if (r.star) {
    if (!r.contacts.empty()) return failure(400, "Contact * with other contacts");
    if (r.expiresHeader != 0u) return failure(400, "Contact * needs Expires: 0");
    for (const Binding& b : current) {
      if (b.callId == r.callId && r.cseq <= b.cseq) return failure(500, "Out of order CSeq");
    }
    store(r.aor, {});
    return RegisterResult{200, "OK", {}, 0};
  }

  // §10.3 step 7: validate every contact against the stored state before changing anything.
  std::vector<uint32_t> expiries;
  expiries.reserve(r.contacts.size());
  for (const auto& [uri, expiresParam] : r.contacts) {
    if (uri.empty()) return failure(400, "Invalid Contact");
    uint32_t e = expiresParam ? *expiresParam : r.expiresHeader.value_or(defaultExpires_);
    if (e != 0 && e < minExpires_) {
      RegisterResult tooBrief = failure(423, "Interval Too Brief");
      tooBrief.minExpires = minExpires_;
      return tooBrief;
    }
    expiries.push_back(std::min(e, maxExpires_));
    for (const Binding& b : current) {
      if (sameContactUri(b.contact, uri) && b.callId == r.callId && r.cseq <= b.cseq) {
        return failure(500, "Out of order CSeq");
      }
    }
  }

  std::string transport = lowered(r.transport);
  std::vector<bool> mentioned(current.size(), false);
  for (size_t k = 0; k < r.contacts.size(); ++k) {
    const std::string& uri = r.contacts[k].first;
    auto it =
        std::find_if(current.begin(), current.end(), [&](const Binding& b) { return sameContactUri(b.contact, uri); });
    if (expiries[k] == 0) {
      if (it != current.end()) {
        mentioned.erase(mentioned.begin() + (it - current.begin()));
        current.erase(it);
      }
      continue;
    }
    if (it == current.end()) {
      current.emplace_back();
      mentioned.push_back(true);
      it = current.end() - 1;
    } else {
      mentioned[it - current.begin()] = true;
    }
    Binding& b = *it;
    b.contact = uri;
    b.callId = r.callId;
    b.cseq = r.cseq;
    b.expiresAtMs = nowMs + uint64_t{expiries[k]} * kMsPerSecond;
    const float q = k < r.qValues.size() ? r.qValues[k] : 1.0f;
    b.q = q >= 0.0f && q <= 1.0f ? q : (q > 1.0f ? 1.0f : 0.0f);  // also maps NaN to 0
    b.sourceIp = r.sourceIp;
    b.sourcePort = r.sourcePort;
    b.transport = transport;
    b.connectionId = r.connectionId;
  }

  if (current.size() > maxContactsPerAor_) {
    const auto requested = static_cast<size_t>(std::count(mentioned.begin(), mentioned.end(), true));
    if (requested > maxContactsPerAor_) return failure(403, "Too many contacts");
    // Evict bindings the request did not mention, soonest expiring first.
    std::vector<size_t> others;
    for (size_t k = 0; k < current.size(); ++k) {
      if (!mentioned[k]) others.push_back(k);
    }
    std::sort(others.begin(), others.end(),
              [&](size_t a, size_t b) { return current[a].expiresAtMs < current[b].expiresAtMs; });
    std::vector<bool> evict(current.size(), false);
    for (size_t n = 0; n < current.size() - maxContactsPerAor_; ++n) evict[others[n]] = true;
    std::vector<Binding> kept;
    kept.reserve(maxContactsPerAor_);
    for (size_t k = 0; k < current.size(); ++k) {
      if (!evict[k]) kept.push_back(std::move(current[k]));
    }
    current = std::move(kept);
  }

  sortByPreference(current);
  RegisterResult ok{200, "OK", current, 0};
  store(r.aor, std::move(current));
  return ok;
}

std::vector<Binding> Registrar::lookup(std::string_view aor, uint64_t nowMs) const {
  std::vector<Binding> out;
  const auto it = aors_.find(aor);
  if (it == aors_.end()) return out;
  for (const Binding& b : it->second) {
    if (isLive(b, nowMs)) out.push_back(b);
  }
  sortByPreference(out);
  return out;
}

size_t Registrar::purge(uint64_t nowMs) {
  std::vector<std::pair<std::string, std::vector<Binding>>> changed;
  for (const auto& [aor, bindings] : aors_) {
    if (std::any_of(bindings.begin(), bindings.end(), [&](const Binding& b) { return !isLive(b, nowMs); })) {
      std::vector<Binding> live;
      for (const Binding& b : bindings) {
        if (isLive(b, nowMs)) live.push_back(b);
      }
      changed.emplace_back(aor, std::move(live));
    }
  }
  const size_t before = bindingCount_;
  for (auto& [aor, live] : changed) store(aor, std::move(live));
  return before - bindingCount_;
}

std::vector<Binding> Registrar::keepaliveTargets(uint64_t nowMs) const {
  std::vector<Binding> out;
  for (const auto& [aor, bindings] : aors_) {
    for (const Binding& b : bindings) {
      if (isLive(b, nowMs) && b.transport == "udp" && !b.sourceIp.empty()) {
        out.push_back(b);
      }
    }
  }
  return out;
}

void Registrar::store(const std::string& aor, std::vector<Binding> bindings) {
  auto it = aors_.find(aor);
  if (it != aors_.end()) bindingCount_ -= it->second.size();
  if (bindings.empty()) {
    if (it != aors_.end()) aors_.erase(it);
    return;
  }
  bindingCount_ += bindings.size();
  if (it != aors_.end()) {
    it->second = std::move(bindings);
  } else {
    aors_.emplace(aor, std::move(bindings));
  }
}

}  // namespace rdv::sip
