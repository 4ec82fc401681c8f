#include "signaling/b2bua/SessionTimer.h"

#include <strings.h>
#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace rdv::b2bua {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<uint32_t> number(std::string_view s) {
  s = trim(s);
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Comma list of option tags filtered to the passed ones, "" when none is left.
std::string passedTags(const sip::SipMessage& msg, std::string_view header, bool with100rel) {
  std::string out;
  for (auto tag : msg.headerList(header)) {
    tag = trim(tag);
    if (!passedOptionTag(tag) || (!with100rel && iequals(tag, "100rel"))) continue;
    if (out.find(tag) != std::string::npos) continue;
    if (!out.empty()) out += ", ";
    out += tag;
  }
  return out;
}

}  // namespace

std::optional<SessionExpires> parseSessionExpires(std::string_view value) {
  if (trim(value).empty()) return std::nullopt;
  const size_t semi = value.find(';');
  auto seconds = number(value.substr(0, semi));
  if (!seconds || *seconds == 0) return std::nullopt;
  SessionExpires se{*seconds, SessionExpires::Refresher::Unspecified};
  std::string_view params = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
  while (!params.empty()) {
    const size_t next = params.find(';');
    std::string_view p = trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    const size_t eq = p.find('=');
    if (eq == std::string_view::npos || !iequals(trim(p.substr(0, eq)), "refresher")) continue;
    std::string_view who = trim(p.substr(eq + 1));
    if (iequals(who, "uac")) se.refresher = SessionExpires::Refresher::Uac;
    if (iequals(who, "uas")) se.refresher = SessionExpires::Refresher::Uas;
  }
  return se;
}

std::optional<uint32_t> parseMinSe(std::string_view value) {
  return number(value.substr(0, value.find(';')));
}

bool hasOptionTag(const sip::SipMessage& msg, std::string_view header, std::string_view tag) {
  auto tags = msg.headerList(header);
  return std::any_of(tags.begin(), tags.end(), [&](std::string_view t) { return iequals(trim(t), tag); });
}

uint64_t sessionEndMs(uint64_t refreshedMs, uint32_t seconds) {
  const uint32_t margin = std::min<uint32_t>(32, seconds / 3);
  return refreshedMs + static_cast<uint64_t>(seconds - margin) * 1000;
}

bool passedOptionTag(std::string_view tag) {
  return iequals(tag, "100rel") || iequals(tag, "timer");
}

std::vector<std::string> passedHeaders(const sip::SipMessage& msg, bool withRequire100rel) {
  std::vector<std::string> out;
  if (auto se = msg.header("Session-Expires"); !se.empty())
    out.push_back(fmt::format("Session-Expires: {}", se));
  if (auto minSe = msg.header("Min-SE"); !minSe.empty()) out.push_back(fmt::format("Min-SE: {}", minSe));
  if (auto s = passedTags(msg, "Supported", true); !s.empty()) out.push_back("Supported: " + s);
  if (auto r = passedTags(msg, "Require", withRequire100rel); !r.empty()) out.push_back("Require: " + r);
  return out;
}

}  // namespace rdv::b2bua
