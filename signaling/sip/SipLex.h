#pragma once
// Lexical helpers the SIP codecs share (RFC 3261 §25.1): character classes, LWS trimming,
// case-insensitive comparison, and cursors over comma lists (§7.3.1) and ';' parameters.
//
// Every std::string_view returned points into the text given and lives as long as that text.
// Header values may contain a line fold (CRLF or LF followed by SP/HT, RFC 3261 §7.3.1); every
// function here treats CR and LF as whitespace.

#include <optional>
#include <string_view>

namespace rdv::sip {

// LWS in the widest sense: SP, HT, and the CR/LF of a line fold.
constexpr bool isSipLws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
constexpr bool isSipTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '!' || c == '%' || c == '*' || c == '_' || c == '+' || c == '`' || c == '\'' || c == '~';
}

// The value of a hexadecimal digit (either case), or -1 for any other character.
constexpr int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Non-empty and made of token characters.
bool isSipToken(std::string_view text);
// Without leading and trailing SP, HT, CR and LF.
std::string_view trimLws(std::string_view text);
// ASCII case-insensitive equality (SIP names, schemes and parameter names are compared this way).
bool equalsIgnoreCase(std::string_view a, std::string_view b);
// The inside of a quoted-string value ("\"abc\"" -> "abc", backslash escapes kept); other text as is.
std::string_view unquote(std::string_view value);

// Walks the elements of a comma-separated header value (RFC 3261 §7.3.1), ignoring commas inside
// quoted strings and <...>. Elements come out trimmed; empty ones are reported too ("a,,b" gives
// "a", "", "b"; "" gives one empty element), so validators can reject them.
class SipListCursor {
 public:
  explicit SipListCursor(std::string_view value) : rest_(value) {}
  bool done() const { return done_; }
  std::string_view next();  // precondition: !done()

 private:
  std::string_view rest_;
  bool done_ = false;
};

// One ";name[=value]" parameter. name and value are trimmed; value is as written (a quoted-string
// keeps its quotes); hasValue tells "lr" from "lr=".
struct SipParam {
  std::string_view name;
  std::string_view value;
  bool hasValue = false;
};

// Walks ';'-separated parameters (uri-parameters, generic-param lists), ignoring ';' inside quoted
// strings. `params` is the text after the first ';' ("" means no parameters).
class SipParamCursor {
 public:
  explicit SipParamCursor(std::string_view params) : rest_(params), done_(params.empty()) {}
  bool done() const { return done_; }
  SipParam next();  // precondition: !done()

 private:
  std::string_view rest_;
  bool done_;
};

// Value of the first parameter called `name` (case-insensitive) in a params list: "" for a flag
// parameter, the unquoted text for a quoted value, nullopt when absent.
std::optional<std::string_view> findSipParam(std::string_view params, std::string_view name);

}  // namespace rdv::sip
