#pragma once
// The event state compositor's store for the presence package (RFC 3903 §6): per presentity, the
// publications it holds, each under an entity tag, with an expiry. Pure state: the B2BUA parses
// the PUBLISH (the body through parsePidf) and turns the outcome into the response.
//
// §6 processing: a PUBLISH with SIP-If-Match names an existing publication (412 when it names
// none, or one of another presentity, or one that expired); without a body it refreshes it,
// with one it modifies it, and Expires: 0 removes it. A PUBLISH without SIP-If-Match needs a
// body and creates a publication. Every success mints a new entity tag (§6 step 7). Expires
// below minExpires (not 0) is 423, above maxExpires is clamped; absent means defaultExpires.
//
// The presentity's state is its most recently modified live publication; with none, the caller
// derives it (from registration).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/Expected.h"
#include "signaling/presence/Pidf.h"

namespace rdv::presence {

struct Publication {
  std::string etag;
  std::string body;  // the PIDF document as published
  std::optional<Basic> basic;
  std::string note;
  uint64_t expiresAtMs = 0;  // live while nowMs < expiresAtMs
  uint64_t modified = 0;     // store-wide sequence: the largest is the newest
};

struct PublishRequest {
  std::string_view user;
  std::string_view ifMatch;           // SIP-If-Match, empty when absent
  const PidfDocument* doc = nullptr;  // the parsed body, null when the PUBLISH has none
  std::string_view body;
  std::optional<uint32_t> expires;  // the Expires header
};

struct PublishError {
  int status = 400;
  std::string reason;
  uint32_t minExpires = 0;  // for 423
};

struct PublishOutcome {
  std::string etag;      // SIP-ETag of the 200 (empty after a removal)
  uint32_t expires = 0;  // granted seconds (0 after a removal)
  bool changed = false;  // what watchers see may differ (created, modified or removed)
};

class PublicationStore {
 public:
  PublicationStore(uint32_t minExpires, uint32_t maxExpires, uint32_t defaultExpires, size_t maxTotal);

  [[nodiscard]] Expected<PublishOutcome, PublishError> publish(const PublishRequest& r, uint64_t nowMs);
  // The newest live publication of `user`, null when none; valid until the next non-const call.
  const Publication* current(std::string_view user, uint64_t nowMs) const;
  // Drops expired publications; returns the users that lost one (their state may have changed).
  std::vector<std::string> purge(uint64_t nowMs);
  size_t size() const { return etags_.size(); }

  // Publications one presentity may hold at once (one per device is the usual case).
  static constexpr size_t kMaxPerUser = 16;

 private:
  std::string newTag();
  void erase(const std::string& user, size_t index);

  uint32_t minExpires_;
  uint32_t maxExpires_;
  uint32_t defaultExpires_;
  size_t maxTotal_;
  uint64_t sequence_ = 0;
  uint64_t salt_;
  std::unordered_map<std::string, std::vector<Publication>> byUser_;
  std::unordered_map<std::string, std::string> etags_;  // entity tag -> user
};

}  // namespace rdv::presence
