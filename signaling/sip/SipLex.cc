#include "signaling/sip/SipLex.h"

#include <cstddef>

namespace rdv::sip {

bool isSipToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (const char c : text) {
    if (!isSipTokenChar(c)) {
      return false;
    }
  }
  return true;
}

std::string_view trimLws(std::string_view text) {
  size_t b = 0;
  size_t e = text.size();
  while (b < e && isSipLws(text[b])) {
    ++b;
  }
  while (e > b && isSipLws(text[e - 1])) {
    --e;
  }
  return text.substr(b, e - b);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

std::string_view unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

std::string_view SipListCursor::next() {
  bool inQuote = false;
  bool inAngle = false;
  for (size_t i = 0; i < rest_.size(); ++i) {
    const char c = rest_[i];
    if (inAngle) {
      inAngle = c != '>';
    } else if (inQuote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inQuote = false;
      }
    } else if (c == '"') {
      inQuote = true;
    } else if (c == '<') {
      inAngle = true;
    } else if (c == ',') {
      const std::string_view element = rest_.substr(0, i);
      rest_.remove_prefix(i + 1);
      return trimLws(element);
    }
  }
  done_ = true;
  const std::string_view element = rest_;
  rest_ = {};
  return trimLws(element);
}

SipParam SipParamCursor::next() {
  bool inQuote = false;
  size_t end = rest_.size();
  for (size_t i = 0; i < rest_.size(); ++i) {
    const char c = rest_[i];
    if (inQuote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inQuote = false;
      }
    } else if (c == '"') {
      inQuote = true;
    } else if (c == ';') {
      end = i;
      break;
    }
  }
  const std::string_view piece = rest_.substr(0, end);
  if (end == rest_.size()) {
    done_ = true;
    rest_ = {};
  } else {
    rest_.remove_prefix(end + 1);
  }
  SipParam p;
  const size_t eq = piece.find('=');
  p.name = trimLws(piece.substr(0, eq));
  if (eq != std::string_view::npos) {
    p.hasValue = true;
    p.value = trimLws(piece.substr(eq + 1));
  }
  return p;
}

std::optional<std::string_view> findSipParam(std::string_view params, std::string_view name) {
  SipParamCursor cursor(params);
  while (!cursor.done()) {
    const SipParam p = cursor.next();
    if (equalsIgnoreCase(p.name, name)) {
      return unquote(p.value);
    }
  }
  return std::nullopt;
}

}  // namespace rdv::sip
