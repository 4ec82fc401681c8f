#pragma once
// The table of configuration keys: one entry per key, used by the loader, `--set` and `--help`.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/Config.h"

namespace rdv::config {

enum class KeyType : uint8_t { String, UInt };

struct KeyDef {
  std::string_view name;  // "section.key" as written in TOML
  KeyType type;
  uint32_t min = 0;       // UInt range, inclusive
  uint32_t max = 0;
  std::string_view doc;
  std::string& (*str)(Config&) = nullptr;  // set for String keys
  uint32_t& (*num)(Config&) = nullptr;     // set for UInt keys
};

std::span<const KeyDef> allKeys();
const KeyDef* findKey(std::string_view name);

// Names of the keys whose values differ between `a` and `b`, in table order; "sip.users" when
// the user maps differ.
std::vector<std::string> changedKeys(const Config& a, const Config& b);

// The key's current value in `cfg`, formatted as TOML would write it ("a string" or 42).
std::string formatValue(const KeyDef& key, const Config& cfg);

}  // namespace rdv::config
