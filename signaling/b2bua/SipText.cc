#include "signaling/b2bua/SipText.h"

#include <sys/random.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

std::string_view viaTransport(sip::SipTransportKind k) {
  switch (k) {
    case sip::SipTransportKind::Tcp:
      return "TCP";
    case sip::SipTransportKind::Tls:
      return "TLS";
    case sip::SipTransportKind::Ws:
      return "WS";
    case sip::SipTransportKind::Wss:
      return "WSS";
    case sip::SipTransportKind::Udp:
      break;
  }
  return "UDP";
}

std::string_view contactTransport(sip::SipTransportKind k) {
  switch (k) {
    case sip::SipTransportKind::Tcp:
      return ";transport=tcp";
    case sip::SipTransportKind::Tls:
      return ";transport=tls";
    case sip::SipTransportKind::Ws:
      return ";transport=ws";
    case sip::SipTransportKind::Wss:
      return ";transport=wss";
    case sip::SipTransportKind::Udp:
      break;
  }
  return "";
}

}  // namespace

std::string identity(std::string_view headerValue) {
  auto na = sip::NameAddr::parse(headerValue);
  if (!na) return std::string(headerValue);
  return sip::formatNameAddr(na->displayNameText(), na->uri);
}

std::string presentedCaller(std::string_view fromHeader, std::string_view host) {
  auto caller = sip::NameAddr::parse(fromHeader);
  if (!caller) return std::string(fromHeader);
  auto uri = sip::SipUri::parse(caller->uri);
  if (!uri || uri->user.empty()) return identity(fromHeader);
  return sip::formatNameAddr(caller->displayNameText(), fmt::format("sip:{}@{}", uri->user, host));
}

std::string uriOf(std::string_view headerValue) {
  auto na = sip::NameAddr::parse(headerValue);
  return na ? std::string(na->uri) : std::string();
}

std::string warningHeader(std::string_view why) {
  std::string text(why);
  std::replace(text.begin(), text.end(), '"', '\'');
  return fmt::format("Warning: 399 rendezvous \"{}\"", text);
}

uint32_t toUint(std::string_view s, uint32_t fallback) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : fallback;
}

LocalContact::LocalContact(const config::SipConfig& cfg, const sip::SipSender& transport) {
  const common::SockAddr& local = transport.local();
  host_ = cfg.advertise.empty() ? local.ip() : cfg.advertise;
  if (host_.find(':') != std::string::npos) host_ = "[" + host_ + "]";
  port_ = local.port();
  tlsPort_ = transport.tlsLocal().port();
  wsPort_ = transport.wsLocal(false).port();
  wssPort_ = transport.wsLocal(true).port();
}

uint16_t LocalContact::portFor(const sip::SipPeer& over) const {
  switch (over.kind) {
    case sip::SipTransportKind::Tls:
      return tlsPort_;
    case sip::SipTransportKind::Ws:
      return wsPort_;
    case sip::SipTransportKind::Wss:
      return wssPort_;
    case sip::SipTransportKind::Udp:
    case sip::SipTransportKind::Tcp:
      break;
  }
  return port_;
}

std::string LocalContact::contact(const sip::SipPeer& over) const {
  return fmt::format("Contact: <sip:rendezvous@{}:{}{}>", host_, portFor(over), contactTransport(over.kind));
}

std::string LocalContact::via(const sip::SipPeer& over, std::string_view branch) const {
  return fmt::format("Via: SIP/2.0/{} {}:{};branch={};rport", viaTransport(over.kind), host_, portFor(over),
                     branch);
}

TagMinter::TagMinter() {
  uint64_t salt = 0;
  if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt)) salt = reinterpret_cast<uintptr_t>(this);
  salt_ = fmt::format("{:x}", salt & 0xffffffffULL);
}

std::string TagMinter::next() {
  return fmt::format("{}{:x}", salt_, ++counter_);
}

std::string requestText(const LocalContact& local, const Leg& leg, std::string_view method, uint32_t cseq,
                        std::string_view branch, uint32_t maxForwards, std::string_view body,
                        std::string_view contentType, std::span<const std::string> extraHeaders) {
  std::string text = fmt::format(
      "{} {} SIP/2.0\r\n{}\r\nMax-Forwards: {}\r\nFrom: {};tag={}\r\nTo: {}{}{}\r\n"
      "Call-ID: {}\r\nCSeq: {} {}\r\n{}\r\n",
      method, leg.remoteTarget, local.via(leg.peer, branch), maxForwards, leg.localId, leg.localTag,
      leg.remoteId, leg.remoteTag.empty() ? "" : ";tag=", leg.remoteTag, leg.callId, cseq, method,
      local.contact(leg.peer));
  if (method == "INVITE") text += fmt::format("{}\r\n", kAllowHeader);
  for (const auto& h : extraHeaders) text += fmt::format("{}\r\n", h);
  if (!contentType.empty()) text += fmt::format("Content-Type: {}\r\n", contentType);
  text += fmt::format("Content-Length: {}\r\n\r\n", body.size());
  text += body;
  return text;
}

std::string ackText(const LocalContact& local, const Leg& leg, uint32_t cseq, std::string_view branch,
                    std::string_view sdp) {
  return fmt::format(
      "ACK {} SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: {};tag={}\r\nTo: {};tag={}\r\n"
      "Call-ID: {}\r\nCSeq: {} ACK\r\n{}\r\n{}Content-Length: {}\r\n\r\n{}",
      leg.remoteTarget, local.via(leg.peer, branch), leg.localId, leg.localTag, leg.remoteId, leg.remoteTag,
      leg.callId, cseq, local.contact(leg.peer), sdp.empty() ? "" : "Content-Type: application/sdp\r\n",
      sdp.size(), sdp);
}

}  // namespace rdv::b2bua
