#include "signaling/ng/Bencode.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace rdv::ng {

// ---- BValue ----

BValue::BValue() : v_(std::in_place_index<kDict>) {}

BValue BValue::integer(int64_t v) { return BValue(Storage(std::in_place_index<kInt>, v)); }
BValue BValue::string(std::string v) { return BValue(Storage(std::in_place_index<kString>, std::move(v))); }
BValue BValue::list(List items) { return BValue(Storage(std::in_place_index<kList>, std::move(items))); }
BValue BValue::dict(Dict entries) { return BValue(Storage(std::in_place_index<kDict>, std::move(entries))); }

int64_t BValue::asInt() const {
  assert(isInt());
  return std::get<kInt>(v_);
}

const std::string& BValue::asString() const {
  assert(isString());
  return std::get<kString>(v_);
}

const BValue::List& BValue::asList() const {
  assert(isList());
  return std::get<kList>(v_);
}

BValue::List& BValue::asList() {
  assert(isList());
  return std::get<kList>(v_);
}

const BValue::Dict& BValue::asDict() const {
  assert(isDict());
  return std::get<kDict>(v_);
}

const BValue* BValue::find(std::string_view key) const {
  const auto* entries = std::get_if<kDict>(&v_);
  if (entries == nullptr) {
    return nullptr;
  }
  for (const auto& [k, v] : *entries) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

std::optional<std::string_view> BValue::getString(std::string_view key) const {
  const BValue* v = find(key);
  if (v == nullptr || !v->isString()) {
    return std::nullopt;
  }
  return std::string_view(v->asString());
}

std::optional<int64_t> BValue::getInt(std::string_view key) const {
  const BValue* v = find(key);
  if (v == nullptr || !v->isInt()) {
    return std::nullopt;
  }
  return v->asInt();
}

BValue& BValue::set(std::string key, BValue v) {
  assert(isDict());
  auto& entries = std::get<kDict>(v_);
  for (auto& [k, existing] : entries) {
    if (k == key) {
      existing = std::move(v);
      return *this;
    }
  }
  entries.emplace_back(std::move(key), std::move(v));
  return *this;
}

void BValue::push(BValue v) {
  assert(isList());
  std::get<kList>(v_).push_back(std::move(v));
}

bool BValue::operator==(const BValue& other) const { return v_ == other.v_; }

// ---- parser ----

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

class Parser {
 public:
  Parser(std::string_view input, const BencodeLimits& limits) : in_(input), limits_(limits) {}

  Expected<BValue, BencodeError> run();

 private:
  // An open list or dictionary. Its children are collected here and the container is built and
  // handed to its parent when its 'e' arrives, so no pointers into the tree are held.
  struct Frame {
    bool isDict;
    size_t start;  // offset of the 'l' / 'd'
    BValue::List items;
    BValue::Dict entries;
    std::string key;  // dictionary: key waiting for its value
    bool haveKey = false;
  };

  static Unexpected<BencodeError> fail(size_t offset, std::string reason) {
    return Unexpected(BencodeError{offset, std::move(reason)});
  }
  Expected<int64_t, BencodeError> parseInteger();
  Expected<std::string, BencodeError> parseString();
  // Hands a complete value to the innermost open container; returns true when it was the root.
  bool place(BValue v);

  std::string_view in_;
  const BencodeLimits& limits_;
  size_t pos_ = 0;
  size_t elements_ = 0;
  BValue root_;
  std::vector<Frame> stack_;
};

Expected<int64_t, BencodeError> Parser::parseInteger() {
  const size_t start = pos_;
  ++pos_;  // 'i'
  bool negative = false;
  if (pos_ < in_.size() && in_[pos_] == '-') {
    negative = true;
    ++pos_;
  }
  const size_t digitsStart = pos_;
  // Magnitude limit: 2^63 for negative numbers (INT64_MIN), 2^63 - 1 otherwise.
  const uint64_t maxMagnitude =
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (negative ? 1U : 0U);
  uint64_t magnitude = 0;
  while (pos_ < in_.size() && isDigit(in_[pos_])) {
    const auto digit = static_cast<uint64_t>(in_[pos_] - '0');
    if (magnitude > (maxMagnitude - digit) / 10) {
      return fail(start, "integer does not fit int64");
    }
    magnitude = magnitude * 10 + digit;
    ++pos_;
  }
  const size_t digits = pos_ - digitsStart;
  if (digits == 0) {
    return fail(pos_, "integer has no digits");
  }
  if (in_[digitsStart] == '0' && digits > 1) {
    return fail(digitsStart, "integer has leading zero");
  }
  if (negative && magnitude == 0) {
    return fail(start, "negative zero integer");
  }
  if (pos_ >= in_.size()) {
    return fail(pos_, "unexpected end of input in integer");
  }
  if (in_[pos_] != 'e') {
    return fail(pos_, "unexpected byte in integer");
  }
  ++pos_;
  if (!negative) {
    return static_cast<int64_t>(magnitude);
  }
  // -(2^63) is representable; negate in unsigned arithmetic to stay clear of overflow.
  return static_cast<int64_t>(~magnitude + 1);
}

Expected<std::string, BencodeError> Parser::parseString() {
  const size_t start = pos_;
  size_t length = 0;
  while (pos_ < in_.size() && isDigit(in_[pos_])) {
    const auto digit = static_cast<size_t>(in_[pos_] - '0');
    // No length above the input size can succeed, so stop before the arithmetic could overflow.
    if (length > (in_.size() - digit) / 10) {
      return fail(start, "string length exceeds input");
    }
    length = length * 10 + digit;
    ++pos_;
  }
  if (pos_ - start > 1 && in_[start] == '0') {
    return fail(start, "string length has leading zero");
  }
  if (pos_ >= in_.size()) {
    return fail(pos_, "unexpected end of input in string length");
  }
  if (in_[pos_] != ':') {
    return fail(pos_, "expected ':' after string length");
  }
  ++pos_;
  if (length > in_.size() - pos_) {
    return fail(start, "string length exceeds input");
  }
  std::string s(in_.substr(pos_, length));
  pos_ += length;
  return s;
}

bool Parser::place(BValue v) {
  if (stack_.empty()) {
    root_ = std::move(v);
    return true;
  }
  Frame& top = stack_.back();
  if (top.isDict) {
    top.entries.emplace_back(std::move(top.key), std::move(v));
    top.key.clear();
    top.haveKey = false;
  } else {
    top.items.push_back(std::move(v));
  }
  return false;
}

bool hasDuplicateKey(const BValue::Dict& entries) {
  std::vector<std::string_view> keys;
  keys.reserve(entries.size());
  for (const auto& entry : entries) {
    keys.emplace_back(entry.first);
  }
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

Expected<BValue, BencodeError> Parser::run() {
  while (true) {
    if (!stack_.empty()) {
      Frame& top = stack_.back();
      if (pos_ >= in_.size()) {
        return fail(pos_, top.isDict ? "unterminated dictionary" : "unterminated list");
      }
      if (in_[pos_] == 'e' && top.haveKey) {
        return fail(pos_, "dictionary key without value");
      }
      if (in_[pos_] == 'e') {
        ++pos_;
        Frame done = std::move(top);
        stack_.pop_back();
        if (done.isDict && hasDuplicateKey(done.entries)) {
          return fail(done.start, "duplicate dictionary key");
        }
        if (place(done.isDict ? BValue::dict(std::move(done.entries)) : BValue::list(std::move(done.items)))) {
          break;
        }
        continue;
      }
      if (top.isDict && !top.haveKey) {
        if (!isDigit(in_[pos_])) {
          return fail(pos_, "dictionary key must be a string");
        }
        auto key = parseString();
        if (!key) {
          return Unexpected(key.error());
        }
        top.key = std::move(*key);
        top.haveKey = true;
        continue;
      }
    }

    // A value starts here.
    if (pos_ >= in_.size()) {
      return fail(pos_, "empty input");  // inside a container the end was caught above
    }
    if (++elements_ > limits_.maxElements) {
      return fail(pos_, "too many elements");
    }
    const char c = in_[pos_];
    if (c == 'l' || c == 'd') {
      if (stack_.size() >= limits_.maxDepth) {
        return fail(pos_, "nesting deeper than limit");
      }
      stack_.push_back(Frame{c == 'd', pos_, {}, {}, {}, false});
      ++pos_;
      continue;
    }
    bool isRoot = false;
    if (c == 'i') {
      auto v = parseInteger();
      if (!v) {
        return Unexpected(v.error());
      }
      isRoot = place(BValue::integer(*v));
    } else if (isDigit(c)) {
      auto v = parseString();
      if (!v) {
        return Unexpected(v.error());
      }
      isRoot = place(BValue::string(std::move(*v)));
    } else {
      return fail(pos_, "unexpected byte");
    }
    if (isRoot) {
      break;
    }
  }
  if (pos_ != in_.size()) {
    return fail(pos_, "trailing data after value");
  }
  return std::move(root_);
}

void appendString(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

}  // namespace

Expected<BValue, BencodeError> parseBencode(std::string_view input, const BencodeLimits& limits) {
  Parser parser(input, limits);
  return parser.run();
}

std::string encodeBencode(const BValue& v) {
  // Explicit stack of open containers and the index of the next child to write.
  struct Frame {
    const BValue* container;
    size_t next;
  };
  std::string out;
  std::vector<Frame> stack;
  // Writes a scalar completely, or the opening byte of a container and pushes it.
  auto open = [&](const BValue& value) {
    if (value.isInt()) {
      out += 'i';
      out += std::to_string(value.asInt());
      out += 'e';
    } else if (value.isString()) {
      appendString(out, value.asString());
    } else {
      out += value.isList() ? 'l' : 'd';
      stack.push_back(Frame{&value, 0});
    }
  };
  open(v);
  while (!stack.empty()) {
    Frame& top = stack.back();
    const size_t index = top.next++;
    if (top.container->isList()) {
      const auto& items = top.container->asList();
      if (index < items.size()) {
        open(items[index]);
        continue;
      }
    } else {
      const auto& entries = top.container->asDict();
      if (index < entries.size()) {
        appendString(out, entries[index].first);
        open(entries[index].second);
        continue;
      }
    }
    out += 'e';
    stack.pop_back();
  }
  return out;
}

}  // namespace rdv::ng
