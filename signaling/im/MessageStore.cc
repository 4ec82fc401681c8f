#include "signaling/im/MessageStore.h"

#include <sqlite3.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdv::im {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS messages ("
    " id INTEGER PRIMARY KEY,"
    " recipient TEXT NOT NULL,"
    " sender TEXT NOT NULL,"
    " content_type TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " stored_unix_ms INTEGER NOT NULL,"
    " expires_unix_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS messages_recipient ON messages (recipient, id);"
    "CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_unix_ms);";

// One prepared statement, finalized when it goes out of scope. A statement that failed to
// prepare (logged) steps as SQLITE_MISUSE, so callers check step() only.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      spdlog::error("message store: cannot prepare '{}': {}", sql, sqlite3_errmsg(db));
      stmt_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& blob(int i, std::string_view v) {
    // A zero-length blob, not NULL, for an empty body.
    if (v.empty()) {
      sqlite3_bind_zeroblob(stmt_, i, 0);
    } else {
      sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  Statement& integer(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error (logged).
  int step() {
    const int rc = stmt_ == nullptr ? SQLITE_MISUSE : sqlite3_step(stmt_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) spdlog::error("message store: {}", sqlite3_errmsg(db_));
    return rc;
  }
  int64_t column(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::string columnText(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

Expected<std::unique_ptr<MessageStore>, std::string> MessageStore::open(const std::string& path,
                                                                        StoreLimits limits) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unexpected(fmt::format("message store {}: {}", path, why));
  }
  char* err = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err != nullptr ? err : "schema failed";
    sqlite3_free(err);
    sqlite3_close(db);
    return Unexpected(fmt::format("message store {}: {}", path, why));
  }
  return std::unique_ptr<MessageStore>(new MessageStore(db, limits));  // private constructor
}

MessageStore::~MessageStore() {
  sqlite3_close(db_);
}

size_t MessageStore::count(const char* sql, std::string_view recipient) const {
  Statement s(db_, sql);
  if (!recipient.empty()) s.text(1, recipient);
  return s.step() == SQLITE_ROW ? static_cast<size_t>(s.column(0)) : 0;
}

size_t MessageStore::size() const {
  return count("SELECT COUNT(*) FROM messages");
}

Expected<int64_t, StoreError> MessageStore::store(const NewMessage& m) {
  if (size() >= limits_.total) return Unexpected(StoreError::StoreFull);
  if (count("SELECT COUNT(*) FROM messages WHERE recipient = ?1", m.recipient) >= limits_.perUser) {
    return Unexpected(StoreError::UserFull);
  }
  Statement s(db_,
              "INSERT INTO messages (recipient, sender, content_type, body, stored_unix_ms, expires_unix_ms)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  s.text(1, m.recipient).text(2, m.sender).text(3, m.contentType).blob(4, m.body);
  s.integer(5, static_cast<int64_t>(m.storedUnixMs)).integer(6, static_cast<int64_t>(m.expiresUnixMs));
  if (s.step() != SQLITE_DONE) return Unexpected(StoreError::Database);
  return sqlite3_last_insert_rowid(db_);
}

std::vector<StoredMessage> MessageStore::pending(std::string_view recipient, uint32_t limit) const {
  Statement s(db_,
              "SELECT id, sender, content_type, body, stored_unix_ms, expires_unix_ms FROM messages"
              " WHERE recipient = ?1 ORDER BY id LIMIT ?2");
  s.text(1, recipient);
  s.integer(2, static_cast<int64_t>(limit));
  std::vector<StoredMessage> out;
  while (s.step() == SQLITE_ROW) {
    out.push_back(StoredMessage{s.column(0), std::string(recipient), s.columnText(1), s.columnText(2),
                                s.columnText(3), static_cast<uint64_t>(s.column(4)),
                                static_cast<uint64_t>(s.column(5))});
  }
  return out;
}

bool MessageStore::remove(int64_t id) {
  Statement s(db_, "DELETE FROM messages WHERE id = ?1");
  s.integer(1, id);
  return s.step() == SQLITE_DONE && sqlite3_changes(db_) > 0;
}

size_t MessageStore::expire(uint64_t nowUnixMs) {
  Statement s(db_, "DELETE FROM messages WHERE expires_unix_ms <= ?1");
  s.integer(1, static_cast<int64_t>(nowUnixMs));
  return s.step() == SQLITE_DONE ? static_cast<size_t>(sqlite3_changes(db_)) : 0;
}

}  // namespace rdv::im
