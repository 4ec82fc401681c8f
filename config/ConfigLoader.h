#pragma once
// Loads configuration from TOML text and `key=value` overrides onto a Config that starts from
// the embedded defaults. Problems are collected, not thrown: each names its source and line.

#include <string>
#include <string_view>
#include <vector>

#include "config/Config.h"

namespace rdv::config {

struct ConfigError {
  std::string source;  // file name, "--set" or "config"
  size_t line = 0;     // 1-based; 0 when not tied to a line
  std::string message;

  std::string str() const;  // "file:line: message"
};

// Applies every key of the TOML document `text` to `cfg`. Syntax errors, unknown keys, wrong
// types and out-of-range values become errors; valid keys are still applied.
void applyToml(Config& cfg, std::string_view text, std::string_view sourceName,
               std::vector<ConfigError>& errors);

// Applies one `section.key=value` override (value as TOML would write it, quotes optional for
// strings).
void applySet(Config& cfg, std::string_view assignment, std::vector<ConfigError>& errors);

// Checks relations between keys (port range, addresses) after all sources are applied.
void validate(const Config& cfg, std::vector<ConfigError>& errors);

// Where a configuration comes from: the TOML file named on the command line (empty: none) and
// the --set overrides, in order. Kept by the server so that a reload repeats the same steps.
struct ConfigSource {
  std::string path;
  std::vector<std::string> sets;
};

// The one way a configuration is built (startup and reload): the embedded defaults, then the
// TOML file (skipped when the path is empty), then each `key=value` override in order (so the
// command line wins over the file), then validate(). Every problem of every stage lands in
// `errors`; an unreadable file is one error and stops there. Use the result only when `errors`
// stayed empty.
Config load(const ConfigSource& source, std::vector<ConfigError>& errors);

// Text listing every key, its default and its meaning (for --help).
std::string describeKeys();

}  // namespace rdv::config
