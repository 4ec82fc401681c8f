#pragma once
// Route table of the HTTP API: method + path pattern ("/api/v1/calls/{id}") to a route number.
// Pure matching, no I/O, so 404 (no such path) versus 405 (path exists, other methods) is decided
// in one place and testable without a socket.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rdv::api {

enum class Method : uint8_t { Get, Post, Put, Patch, Delete };

std::string_view methodName(Method m);  // "GET", "POST", ...

using PathParams = std::map<std::string, std::string, std::less<>>;

struct RouteFound {
  size_t route = 0;   // the number add() returned
  PathParams params;  // {name} segments of the pattern, as they appeared in the path
};
struct RouteNotFound {};
struct RouteWrongMethod {
  std::string allow;  // "GET, POST": the methods the path has, for the Allow header
};
using RouteLookup = std::variant<RouteFound, RouteNotFound, RouteWrongMethod>;

class Router {
 public:
  // Adds a route and returns its number (0, 1, ...). `pattern` is absolute; a segment "{name}"
  // matches any one non-empty segment. A (method, pattern) pair must be added once only.
  size_t add(Method method, std::string_view pattern);

  // `method` as the request line spells it ("GET"; any other word finds no route, only the Allow
  // list). Exact segment match: no trailing slash, no empty segments, no prefix matching.
  RouteLookup find(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    Method method;
    std::vector<std::string> segments;
  };
  static bool matches(const Route& r, const std::vector<std::string_view>& path, PathParams* params);

  std::vector<Route> routes_;
};

}  // namespace rdv::api
