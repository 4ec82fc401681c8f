#include "signaling/presence/Subscription.h"

#include <algorithm>

namespace rdv::presence {

bool Subscription::set(Field f, std::string_view value) {
  const size_t i = static_cast<size_t>(f);
  const size_t from = i == 0 ? 0 : ends_[i - 1];
  const size_t old = ends_[i] - from;
  if (text_.size() - old + value.size() > kMaxText) {
    complete_ = false;
    return false;
  }
  text_.replace(from, old, value);
  const auto shift = [&](uint16_t end) { return static_cast<uint16_t>(end - old + value.size()); };
  std::transform(ends_.begin() + static_cast<ptrdiff_t>(i), ends_.end(),
                 ends_.begin() + static_cast<ptrdiff_t>(i), shift);
  return true;
}

void Subscription::setRoutes(std::span<const std::string_view> routes) {
  std::string joined;
  for (auto r : routes) {
    if (!joined.empty()) joined += '\n';
    joined += r;
  }
  set(Field::Routes, joined);
}

std::vector<std::string_view> Subscription::routes() const {
  std::vector<std::string_view> out;
  std::string_view rest = get(Field::Routes);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    out.push_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return out;
}

}  // namespace rdv::presence
