#include "ledger/sqlite_util.h"

namespace dg {

Status SqlError(sqlite3* db, int rc, const std::string& what) {
  std::string msg = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return Status::InvalidInput(what + ": not a distillgate ledger (not an SQLite database)");
    case SQLITE_CORRUPT:
      return Status::VerifyFailed(msg + " (the database file is corrupt)");
    case SQLITE_CONSTRAINT:
      return Status::VerifyFailed(msg);
    default:
      return Status::IoError(msg);
  }
}

SqlStmt::SqlStmt(sqlite3* db, const char* sql) : db_(db), sql_(sql) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
}

SqlStmt::~SqlStmt() { sqlite3_finalize(stmt_); }

SqlStmt& SqlStmt::operator=(SqlStmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    sql_ = o.sql_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Status SqlStmt::prepare_status() const {
  if (stmt_ != nullptr) return Status::Ok();
  return SqlError(db_, sqlite3_errcode(db_), std::string("preparing \"") + sql_ + "\"");
}

SqlStmt& SqlStmt::Reset() {
  // Every caller binds all parameters again, so bindings need no clearing.
  sqlite3_reset(stmt_);
  return *this;
}

SqlStmt& SqlStmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

SqlStmt& SqlStmt::Bind(int i, std::string_view text) {
  sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

SqlStmt& SqlStmt::BindBlob(int i, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  return *this;
}

StatusOr<bool> SqlStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = SqlError(db_, rc, "ledger database");
  sqlite3_reset(stmt_);
  return s;
}

Status SqlStmt::Run() {
  auto r = Step();
  if (!r.ok()) return r.status();
  sqlite3_reset(stmt_);
  return Status::Ok();
}

std::string SqlStmt::ColumnText(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}

std::string SqlStmt::ColumnBlob(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}

std::string_view SqlStmt::ColumnBlobView(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string_view();
}

Status SqlExec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return SqlError(nullptr, rc, std::string("ledger database: ") + msg);
  }
  return Status::Ok();
}

}  // namespace dg
