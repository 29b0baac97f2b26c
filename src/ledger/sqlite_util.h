// Thin RAII wrappers over the SQLite C API (prepared statements only).
// Internal to the ledger library.
#ifndef DISTILLGATE_LEDGER_SQLITE_UTIL_H_
#define DISTILLGATE_LEDGER_SQLITE_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dg {

class SqlStmt {
 public:
  SqlStmt() = default;
  SqlStmt(sqlite3* db, const char* sql);
  ~SqlStmt();
  SqlStmt(SqlStmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(o.sql_) { o.stmt_ = nullptr; }
  SqlStmt& operator=(SqlStmt&& o) noexcept;
  SqlStmt(const SqlStmt&) = delete;
  SqlStmt& operator=(const SqlStmt&) = delete;

  bool valid() const { return stmt_ != nullptr; }
  Status prepare_status() const;
  SqlStmt& Reset();
  SqlStmt& Bind(int i, int64_t v);
  SqlStmt& Bind(int i, std::string_view text);       // TEXT
  SqlStmt& BindBlob(int i, std::string_view bytes);  // BLOB
  // Steps once: true when a row is ready, false when done.
  StatusOr<bool> Step();
  // Steps to completion of a statement that returns no rows.
  Status Run();
  int64_t ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool ColumnIsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::string ColumnText(int i) const;
  std::string ColumnBlob(int i) const;
  // Valid until the next Step() or Reset().
  std::string_view ColumnBlobView(int i) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  const char* sql_ = "";
};

// Maps a SQLite result code to a Status with the database's message.
Status SqlError(sqlite3* db, int rc, const std::string& what);
// Runs SQL text without parameters (schema, pragmas, BEGIN/COMMIT).
Status SqlExec(sqlite3* db, const char* sql);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_SQLITE_UTIL_H_
