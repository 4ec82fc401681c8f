#pragma once
// Instant messages kept for users who are offline (RFC 3428 pager mode): one SQLite file, so
// they survive a restart. The B2BUA stores a MESSAGE for a user without a live contact and hands
// the pending ones over, oldest first, when the user registers; a message leaves the store only
// once a device accepted it (remove) or it expired. Control thread only: the database handle is
// not shared, and every call is a short synchronous statement on a WAL-mode file.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"

struct sqlite3;

namespace rdv::im {

// Bounds on what the store holds, in messages.
struct StoreLimits {
  uint32_t perUser = 100;    // sip.message_store_per_user
  uint32_t total = 100'000;  // sip.message_store_total
};

// A message to keep. The views need only live through the store() call.
struct NewMessage {
  std::string_view recipient;    // the user part of the Request-URI
  std::string_view sender;       // the From header value as received
  std::string_view contentType;  // empty when the body is
  std::string_view body;         // SIP bodies are bytes held as text by SipMessage
  uint64_t storedUnixMs = 0;
  uint64_t expiresUnixMs = 0;
};

struct StoredMessage {
  int64_t id = 0;
  std::string recipient;
  std::string sender;
  std::string contentType;
  std::string body;
  uint64_t storedUnixMs = 0;
  uint64_t expiresUnixMs = 0;
};

enum class StoreError : uint8_t {
  UserFull,   // the recipient holds StoreLimits::perUser messages already
  StoreFull,  // the store holds StoreLimits::total messages already
  Database,   // SQLite failed (logged)
};

class MessageStore {
 public:
  // Opens (creating when missing) the database at `path` in WAL mode and creates the schema;
  // the error names the path and SQLite's reason.
  [[nodiscard]] static Expected<std::unique_ptr<MessageStore>, std::string> open(const std::string& path,
                                                                                 StoreLimits limits);
  ~MessageStore();
  MessageStore(const MessageStore&) = delete;
  MessageStore& operator=(const MessageStore&) = delete;

  // Keeps `m` unless a quota is reached; its id orders it after every message stored before.
  [[nodiscard]] Expected<int64_t, StoreError> store(const NewMessage& m);
  // The messages kept for `recipient`, oldest first (expired ones included until expire()).
  // The recipient's messages, oldest first; at most `limit` of them.
  std::vector<StoredMessage> pending(std::string_view recipient, uint32_t limit = UINT32_MAX) const;
  // False when no message has this id (delivered or expired already).
  bool remove(int64_t id);
  // Drops every message whose expiry is at or before `nowUnixMs`; returns how many.
  size_t expire(uint64_t nowUnixMs);
  size_t size() const;

 private:
  MessageStore(sqlite3* db, StoreLimits limits) : db_(db), limits_(limits) {}
  // COUNT(*) of `sql` with `recipient` bound to its one parameter, if it has one.
  size_t count(const char* sql, std::string_view recipient = {}) const;

  sqlite3* db_;  // owned: closed by the destructor
  StoreLimits limits_;
};

}  // namespace rdv::im
