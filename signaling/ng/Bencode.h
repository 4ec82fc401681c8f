#pragma once
// Bencode values and codec, the wire format of the rtpengine NG control protocol (an NG message is
// "<cookie> <bencoded dictionary>" over UDP; this file handles only the dictionary part).
//
// Format (BitTorrent BEP 3, as used by rtpengine and Kamailio's rtpengine module):
//   integer     i<decimal>e      no leading zeros, no "-0"
//   byte string <length>:<bytes> length in decimal, no leading zeros
//   list        l<value>*e
//   dictionary  d(<string><value>)*e
// BEP 3 asks for sorted dictionary keys, but Kamailio emits keys in insertion order, so the parser
// accepts any order (and rejects duplicates) and the encoder keeps the order it was given.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/Expected.h"

namespace rdv::ng {

struct BencodeError {
  size_t offset;       // byte offset into the input where the problem was found
  std::string reason;  // e.g. "string length exceeds input"
};

// One bencode value: integer, byte string, list or dictionary. A dictionary keeps insertion order
// and its keys are unique. Accessors for the wrong kind (asInt() on a string, set() on a list)
// are precondition violations: they assert in debug builds.
class BValue {
 public:
  using List = std::vector<BValue>;
  using Dict = std::vector<std::pair<std::string, BValue>>;

  BValue();  // empty dictionary, the usual start of an NG message

  static BValue integer(int64_t v);
  static BValue string(std::string v);
  static BValue list(List items = {});
  static BValue dict(Dict entries = {});  // precondition: keys unique

  bool isInt() const { return v_.index() == kInt; }
  bool isString() const { return v_.index() == kString; }
  bool isList() const { return v_.index() == kList; }
  bool isDict() const { return v_.index() == kDict; }

  int64_t asInt() const;
  const std::string& asString() const;
  const List& asList() const;
  List& asList();
  const Dict& asDict() const;

  // Dictionary lookup; nullptr if the key is absent or this is not a dictionary. The pointer is
  // valid until this value is next modified.
  const BValue* find(std::string_view key) const;
  // dict[key] when present and a byte string; the view lives as long as find(key) would.
  std::optional<std::string_view> getString(std::string_view key) const;
  // dict[key] when present and an integer.
  std::optional<int64_t> getInt(std::string_view key) const;

  // Dictionary insert-or-replace (a replaced key keeps its position). Precondition: isDict().
  BValue& set(std::string key, BValue v);
  // List append. Precondition: isList().
  void push(BValue v);

  bool operator==(const BValue& other) const;

 private:
  static constexpr size_t kInt = 0;
  static constexpr size_t kString = 1;
  static constexpr size_t kList = 2;
  static constexpr size_t kDict = 3;
  using Storage = std::variant<int64_t, std::string, List, Dict>;

  explicit BValue(Storage v) : v_(std::move(v)) {}

  Storage v_;
};

// Caps applied while parsing untrusted input. Depth counts open lists/dictionaries (a top-level
// dictionary is depth 1); elements count every value, including the top-level one.
struct BencodeLimits {
  size_t maxDepth = 32;
  size_t maxElements = 10000;
};

// Parses exactly one value spanning the whole input; trailing bytes are an error. Integers must
// be canonical and fit int64; string lengths must be canonical and not exceed the remaining input;
// dictionary keys must be byte strings and unique. The parser is iterative, so hostile nesting
// costs no stack; nesting deeper than limits.maxDepth or more than limits.maxElements values is an
// error. The result's nesting depth is at most limits.maxDepth (destroying or copying a BValue
// recurses once per level).
Expected<BValue, BencodeError> parseBencode(std::string_view input, const BencodeLimits& limits = {});

// Canonical encoding: integers and lengths without leading zeros, dictionary keys in insertion
// order. parseBencode(encodeBencode(v)) == v for any v within the default limits. Iterative.
std::string encodeBencode(const BValue& v);

}  // namespace rdv::ng
