// B2bua's requests beyond the call itself (B2bua.cc has INVITE, ACK, BYE, UPDATE and CANCEL):
// INFO, MESSAGE, NOTIFY and REFER relayed within a call to the other party with their bodies and
// the headers their extensions need, and the other in-dialog methods answered here. MESSAGE
// outside a call is B2buaPager.cc's.

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/Reconnect.h"

namespace rdv::b2bua {
namespace {

// Headers a relayed request keeps, beyond its body and Content-Type: what the method's extension
// defines and the other party needs to act on it. REFER (RFC 3515, 3892, 4488): Refer-To passes
// through as the referrer wrote it, so the referee calls what the referrer asked for (the URI may
// name the referrer's own domain; attended transfer's Replaces in it names the referrer's dialog
// with us, which the new call's callee does not know, so that degrades to a blind transfer).
// NOTIFY (RFC 6665): Event and Subscription-State. INFO (RFC 6086): Info-Package.
constexpr std::array<std::string_view, 7> kRelayedHeaders{
    "Refer-To",           "Referred-By",  "Refer-Sub",          "Event",
    "Subscription-State", "Info-Package", "Content-Disposition"};

std::vector<std::string> relayedHeaders(const sip::SipMessage& req) {
  std::vector<std::string> out;
  for (std::string_view name : kRelayedHeaders) {
    if (auto v = req.header(name); !v.empty()) out.push_back(fmt::format("{}: {}", name, v));
  }
  return out;
}

}  // namespace

void B2bua::onInDialogRequest(sip::TxnId id, const sip::SipMessage& req, Call& call, int side) {
  switch (req.method()) {
    case sip::SipMethod::Info:
    case sip::SipMethod::Message:
    case sip::SipMethod::Notify:
    case sip::SipMethod::Refer:
      break;
    case sip::SipMethod::Options: {
      // Answered for the dialog we hold; relaying it would hand over the other party's
      // capabilities, SDP addresses included.
      std::array<std::string, 2> h{std::string(kAllowHeader), "Accept: application/sdp"};
      txns_.respond(id, 200, "OK", {}, h);
      return;
    }
    case sip::SipMethod::Prack:
      // Not reached: B2bua::onRequest hands PRACK to onInDialog, which answers it against the
      // reliable provisional we sent (B2buaExtensions.cc, RFC 3262 §3).
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    case sip::SipMethod::Unknown:
      txns_.respond(id, 501, "Not Implemented");
      return;
    default: {  // SUBSCRIBE, PUBLISH: no part of a call
      std::array<std::string, 1> h{std::string(kAllowHeader)};
      txns_.respond(id, 405, "Method Not Allowed", {}, h);
      return;
    }
  }
  const int other = 1 - side;
  Leg& leg = call.leg(other);
  const std::vector<std::string> extra = relayedHeaders(req);
  const std::string_view body = req.body();
  const std::string_view ctype = body.empty() ? std::string_view() : req.header("Content-Type");
  const sip::TxnId out =
      txns_.sendRequest(requestText(local_, leg, req.methodText(), ++leg.localCseq, txns_.newBranch(),
                                    call.maxForwards, body, ctype, extra),
                        withReconnect(leg.peer, leg.remoteTarget));
  if (out == 0) {
    txns_.respond(id, 500, "Server Internal Error");
    return;
  }
  spdlog::debug("call={} {} from {} relayed", call.anchorId, req.methodText(),
                side == 0 ? "caller" : "callee");
  auto p = std::make_unique<PendingRequest>();
  p->call = call.id;
  p->toSide = other;
  p->serverTxn = id;
  p->method = std::string(req.methodText());
  calls_.addPending(out, std::move(p));
}

}  // namespace rdv::b2bua
