// Router: patterns are kept as segment lists; a lookup splits the path once and compares segment by
// segment. Tables are a few dozen routes, so a linear scan is the simplest correct thing.

#include "app/api/Router.h"

#include <array>
#include <cassert>
#include <optional>

namespace rdv::api {
namespace {

constexpr std::array<std::string_view, 5> kMethodNames{"GET", "POST", "PUT", "PATCH", "DELETE"};

// "/a/b" -> {"a", "b"}; "/" -> {}; a missing leading '/', an empty segment ("//", trailing '/')
// -> nullopt (no route has one).
std::optional<std::vector<std::string_view>> split(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> out;
  path.remove_prefix(1);
  if (path.empty()) return out;
  for (;;) {
    auto slash = path.find('/');
    auto seg = path.substr(0, slash);
    if (seg.empty()) return std::nullopt;
    out.push_back(seg);
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool isParam(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

}  // namespace

std::string_view methodName(Method m) { return kMethodNames[static_cast<size_t>(m)]; }

size_t Router::add(Method method, std::string_view pattern) {
  auto segs = split(pattern);
  assert(segs && "route patterns are absolute paths without empty segments");
  Route r{method, {}};
  for (auto s : *segs) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
  return routes_.size() - 1;
}

bool Router::matches(const Route& r, const std::vector<std::string_view>& path, PathParams* params) {
  if (r.segments.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    const auto& want = r.segments[i];
    if (isParam(want)) {
      if (params != nullptr) params->emplace(want.substr(1, want.size() - 2), path[i]);
    } else if (want != path[i]) {
      return false;
    }
  }
  return true;
}

RouteLookup Router::find(std::string_view method, std::string_view path) const {
  auto segs = split(path);
  if (!segs) return RouteNotFound{};
  std::string allow;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const auto& r = routes_[i];
    if (methodName(r.method) == method) {
      PathParams params;
      if (matches(r, *segs, &params)) return RouteFound{i, std::move(params)};
    } else if (matches(r, *segs, nullptr)) {
      if (!allow.empty()) allow += ", ";
      allow += methodName(r.method);
    }
  }
  if (allow.empty()) return RouteNotFound{};
  return RouteWrongMethod{std::move(allow)};
}

}  // namespace rdv::api
