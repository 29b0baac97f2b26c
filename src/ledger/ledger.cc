#include "ledger/ledger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/merkle.h"
#include "ledger/sqlite_util.h"

namespace dg {
namespace {

constexpr const char* kFormatName = "distillgate-ledger";

constexpr const char* kSchema = R"SQL(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE leaf(
  idx INTEGER PRIMARY KEY CHECK (idx >= 0),
  nodes BLOB NOT NULL CHECK (length(nodes) % 32 = 0),
  data BLOB NOT NULL);
CREATE TABLE checkpoint(size INTEGER PRIMARY KEY CHECK (size >= 0), note TEXT NOT NULL);
CREATE TABLE head(id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TRIGGER meta_append_only_u BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER meta_append_only_d BEFORE DELETE ON meta BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER leaf_append_only_u BEFORE UPDATE ON leaf BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER leaf_append_only_d BEFORE DELETE ON leaf BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER checkpoint_append_only_u BEFORE UPDATE ON checkpoint BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER checkpoint_append_only_d BEFORE DELETE ON checkpoint BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER head_no_delete BEFORE DELETE ON head BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER head_grows_only BEFORE UPDATE ON head WHEN NEW.size <= OLD.size
  BEGIN SELECT RAISE(ABORT, 'ledger head may only grow'); END;
)SQL";

// Sets the journal mode; what SQLite says the mode is afterwards ("" on an
// error): the old mode when it could not switch.
std::string JournalMode(sqlite3* db, const char* mode) {
  SqlStmt s(db, (std::string("PRAGMA journal_mode=") + mode).c_str());
  if (!s.valid()) return std::string();
  auto row = s.Step();
  return row.ok() && *row ? s.ColumnText(0) : std::string();
}

}  // namespace

class Ledger::Impl {
 public:
  ~Impl() {
    stmts_ = Stmts();
    if (db_) sqlite3_close_v2(db_);
  }

  sqlite3* db_ = nullptr;
  int read_depth_ = 0;
  bool snapshot_began_ = false;  // the outermost ReadSnapshot began a transaction
  bool in_transaction_ = false;  // a Ledger::Transaction is open
  // The last head note this object signed or verified: an append that finds
  // it unchanged need not verify its signature again.
  std::string trusted_head_;
  // The file this connection opened (device, inode): an append first checks
  // that the path still names it (a ledger replaced with `mv` while a run
  // appends would otherwise take the run's entries into an unlinked file).
  dev_t device_ = 0;
  ino_t inode_ = 0;
  std::string rescued_;  // where the copy saved after a replacement is ("" until then)
  bool wal_drained_ = false;  // after a replacement: this connection's -wal was emptied
  struct Stmts {
    SqlStmt head, max_idx, leaf, leaf_range, leaf_nodes, insert_leaf, insert_cp, cas_head, cp_at, cps, count_leaves;
  } stmts_;

  Status Prepare() {
    stmts_.head = SqlStmt(db_, "SELECT size, note FROM head WHERE id = 1");
    stmts_.max_idx = SqlStmt(db_, "SELECT max(idx) FROM leaf");
    stmts_.leaf = SqlStmt(db_, "SELECT nodes, data FROM leaf WHERE idx = ?1");
    stmts_.leaf_range = SqlStmt(db_, "SELECT idx, data FROM leaf WHERE idx >= ?1 AND idx < ?2 ORDER BY idx");
    stmts_.leaf_nodes = SqlStmt(db_, "SELECT nodes FROM leaf WHERE idx = ?1");
    stmts_.insert_leaf = SqlStmt(db_, "INSERT INTO leaf(idx, nodes, data) VALUES (?1, ?2, ?3)");
    stmts_.insert_cp = SqlStmt(db_, "INSERT INTO checkpoint(size, note) VALUES (?1, ?2)");
    stmts_.cas_head = SqlStmt(db_, "UPDATE head SET size = ?1, note = ?2 WHERE id = 1 AND size = ?3 AND note = ?4");
    stmts_.cp_at = SqlStmt(db_, "SELECT note FROM checkpoint WHERE size = ?1");
    stmts_.cps = SqlStmt(db_, "SELECT size, note FROM checkpoint ORDER BY size");
    stmts_.count_leaves = SqlStmt(db_, "SELECT count(*) FROM leaf");
    for (SqlStmt* s : {&stmts_.head, &stmts_.max_idx, &stmts_.leaf, &stmts_.leaf_range, &stmts_.leaf_nodes,
                       &stmts_.insert_leaf, &stmts_.insert_cp, &stmts_.cas_head, &stmts_.cp_at, &stmts_.cps,
                       &stmts_.count_leaves}) {
      DG_RETURN_IF_ERROR(s->prepare_status());
    }
    return Status::Ok();
  }

  StatusOr<std::pair<uint64_t, std::string>> Head() {
    SqlStmt& s = stmts_.head.Reset();
    DG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::VerifyFailed("ledger has no head row");
    auto out = std::make_pair(static_cast<uint64_t>(s.ColumnInt(0)), s.ColumnText(1));
    s.Reset();
    return out;
  }

  // Level 0 is the hash of the leaf's data. Levels 1 .. kFirstStoredLevel-1
  // are recomputed from their (at most 4) leaves. A complete subtree (L, n)
  // with L >= kFirstStoredLevel is stored with the leaf whose append
  // completed it, m = ((n+1) << L) - 1, as bytes
  // [(L-kFirstStoredLevel)·32, +32) of that leaf's `nodes`.
  StatusOr<Hash> Subtree(int level, uint64_t index) {
    if (level < kFirstStoredLevel) {
      const uint64_t first = index << level, count = uint64_t{1} << level;
      SqlStmt& s = stmts_.leaf_range.Reset().Bind(1, static_cast<int64_t>(first)).Bind(2, static_cast<int64_t>(first + count));
      Hash level_hashes[1 << (kFirstStoredLevel - 1)];
      uint64_t got = 0;
      for (;;) {
        auto row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (static_cast<uint64_t>(s.ColumnInt(0)) != first + got || got >= count) break;
        level_hashes[got++] = LeafHash(s.ColumnBlobView(1));
      }
      s.Reset();
      if (got != count) {
        return Status::VerifyFailed("ledger is missing leaf " + std::to_string(first + got) +
                                    " (needed for subtree level " + std::to_string(level) + ", index " +
                                    std::to_string(index) + ")");
      }
      for (uint64_t width = count; width > 1; width /= 2) {
        for (uint64_t k = 0; k < width / 2; ++k) level_hashes[k] = NodeHash(level_hashes[2 * k], level_hashes[2 * k + 1]);
      }
      return level_hashes[0];
    }
    const uint64_t m = ((index + 1) << level) - 1;
    SqlStmt& s = stmts_.leaf_nodes.Reset().Bind(1, static_cast<int64_t>(m));
    DG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      return Status::VerifyFailed("ledger is missing leaf " + std::to_string(m) + " (needed for subtree level " +
                                  std::to_string(level) + ", index " + std::to_string(index) + ")");
    }
    std::string_view blob = s.ColumnBlobView(0);
    const size_t offset = static_cast<size_t>(level - kFirstStoredLevel) * 32;
    Hash h{};
    if (blob.size() < offset + 32) {
      s.Reset();
      return Status::VerifyFailed("leaf " + std::to_string(m) + " stores no hash for subtree level " +
                                  std::to_string(level) + ", index " + std::to_string(index));
    }
    std::memcpy(h.data(), blob.data() + offset, 32);
    s.Reset();
    return h;
  }

  SubtreeReader Reader() {
    return [this](int level, uint64_t index) { return Subtree(level, index); };
  }
};

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

Status Ledger::Init(const std::string& path, const PrivateKey& key, const std::string& origin) {
  DG_ASSIGN_OR_RETURN(NoteVerifier verifier, NoteVerifier::Make(origin, key.public_key()));
  if (FileExists(path)) {
    return Status::InvalidInput(path + ": already exists; a ledger is never re-initialised");
  }
  const std::string tmp = path + ".init-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  Status st = [&]() -> Status {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(tmp.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> holder(db, &sqlite3_close);
    if (rc != SQLITE_OK) return SqlError(db, rc, tmp + ": cannot create");
    DG_RETURN_IF_ERROR(SqlExec(db, ("PRAGMA page_size=" + std::to_string(kPageSize) + "; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;").c_str()));
    DG_RETURN_IF_ERROR(SqlExec(db, "BEGIN IMMEDIATE"));
    DG_RETURN_IF_ERROR(SqlExec(db, kSchema));
    Checkpoint cp{origin, 0, EmptyRootHash()};
    DG_ASSIGN_OR_RETURN(std::string note, SignCheckpoint(cp, key));
    SqlStmt meta(db, "INSERT INTO meta(key, value) VALUES (?1, ?2)");
    DG_RETURN_IF_ERROR(meta.prepare_status());
    const std::pair<const char*, std::string> rows[] = {
        {"format", kFormatName},
        {"schema_version", std::to_string(kSchemaVersion)},
        {"origin", origin},
        {"vkey", verifier.ToString()},
        {"hash", "SHA-256, RFC 6962 leaf 0x00 / node 0x01"},
        {"entry_encoding", "RFC 8785 canonical JSON of {\"body\":object,\"kind\":string}"},
    };
    for (const auto& r : rows) DG_RETURN_IF_ERROR(meta.Reset().Bind(1, r.first).Bind(2, r.second).Run());
    SqlStmt cps(db, "INSERT INTO checkpoint(size, note) VALUES (0, ?1)");
    DG_RETURN_IF_ERROR(cps.prepare_status());
    DG_RETURN_IF_ERROR(cps.Bind(1, note).Run());
    SqlStmt head(db, "INSERT INTO head(id, size, note) VALUES (1, 0, ?1)");
    DG_RETURN_IF_ERROR(head.prepare_status());
    DG_RETURN_IF_ERROR(head.Bind(1, note).Run());
    meta = SqlStmt();
    cps = SqlStmt();
    head = SqlStmt();
    DG_RETURN_IF_ERROR(SqlExec(db, "COMMIT"));
    holder.reset();
    // The new file appears under its name atomically and only if the name is free.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      if (err == EEXIST) return Status::InvalidInput(path + ": already exists; a ledger is never re-initialised");
      return Status::IoError(path + ": cannot create: " + std::strerror(err));
    }
    return Status::Ok();
  }();
  ::unlink(tmp.c_str());
  ::unlink((tmp + "-wal").c_str());
  ::unlink((tmp + "-shm").c_str());
  return st;
}

StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path, Mode mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status::InvalidInput(path + ": no ledger here (create one with `distillgate ledger init`)");
    }
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidInput(path + ": not a regular file");
  if (mode == Mode::kReadWrite) {
    // A ledger whose owner-write bit is cleared is sealed, even for root.
    if ((st.st_mode & S_IWUSR) == 0 || ::access(path.c_str(), W_OK) != 0) {
      return Status::IoError(path + ": ledger file is read-only; refusing to append");
    }
  }
  if (mode == Mode::kReadOnly && FileExists(path + "-journal")) {
    // A bulk transaction (Transaction::Writes::kBulk) died before its end:
    // a read-only connection cannot roll its journal back, so a read-write
    // one does that first (and puts the ledger back into WAL mode).
    auto writer = Open(path, Mode::kReadWrite);
    if (!writer.ok()) {
      return Status::IoError(path + ": an interrupted bulk write left " + path +
                             "-journal, and it cannot be rolled back from here (" + writer.status().message() +
                             "); open the ledger once where it is writable");
    }
  }
  auto impl = std::make_unique<Impl>();
  int flags = (mode == Mode::kReadWrite ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &impl->db_, flags, nullptr);
  if (rc != SQLITE_OK) return SqlError(impl->db_, rc, path + ": cannot open");
  impl->device_ = st.st_dev;
  impl->inode_ = st.st_ino;
  if (mode == Mode::kReadWrite && sqlite3_db_readonly(impl->db_, "main") == 1) {
    return Status::IoError(path + ": ledger file is read-only; refusing to append");
  }
  sqlite3_busy_timeout(impl->db_, 60000);
  // Memory-mapped reads avoid one pread() per page in long scans (fsck).
  Status s = SqlExec(impl->db_, "PRAGMA synchronous=FULL; PRAGMA mmap_size=1073741824;");
  if (!s.ok()) return s.WithContext(path);

  // Identify the file before trusting any of its tables.
  SqlStmt meta(impl->db_, "SELECT key, value FROM meta");
  if (!meta.valid()) {
    int code = sqlite3_errcode(impl->db_);
    if ((code & 0xff) == SQLITE_NOTADB || (code & 0xff) == SQLITE_ERROR) {
      return Status::InvalidInput(path + ": not a distillgate ledger");
    }
    return meta.prepare_status().WithContext(path);
  }
  std::string format, version, origin, vkey;
  for (;;) {
    auto row = meta.Step();
    if (!row.ok()) return row.status().WithContext(path);
    if (!*row) break;
    std::string k = meta.ColumnText(0), v = meta.ColumnText(1);
    if (k == "format") format = v;
    else if (k == "schema_version") version = v;
    else if (k == "origin") origin = v;
    else if (k == "vkey") vkey = v;
  }
  meta = SqlStmt();
  if (format != kFormatName) return Status::InvalidInput(path + ": not a distillgate ledger");
  if (version != std::to_string(kSchemaVersion)) {
    return Status::InvalidInput(path + ": ledger schema version " + version + " is not supported (expected " +
                                std::to_string(kSchemaVersion) + ")");
  }
  if (mode == Mode::kReadWrite) {
    // A bulk transaction that could not switch back to WAL, or crashed
    // (SQLite has rolled its journal back by now), left rollback-journal
    // mode: back to WAL. Failing that (another process holds the ledger),
    // it works as it is.
    (void)JournalMode(impl->db_, "WAL");
  }
  DG_RETURN_IF_ERROR(impl->Prepare().WithContext(path));
  std::unique_ptr<Ledger> l(new Ledger(std::move(impl)));
  l->path_ = path;
  l->origin_ = origin;
  l->vkey_ = vkey;
  return l;
}

Status Ledger::CheckIdentity() {
  struct stat st;
  const bool same = ::stat(path_.c_str(), &st) == 0 && st.st_dev == impl_->device_ && st.st_ino == impl_->inode_;
  if (same) return Status::Ok();
  // The path names another file now (or none): appending would put entries
  // where nobody will find them. Stop, and save what this connection holds —
  // every batch committed so far — beside the path, since the file it was
  // committed to may be unlinked and gone when this process ends.
  // Once: nothing is committed through this connection after the first
  // refusal, so one copy holds it all.
  if (impl_->rescued_.empty() && !impl_->in_transaction_ && sqlite3_get_autocommit(impl_->db_)) {
    std::string copy = path_ + ".rescued-" + std::to_string(::getpid());
    for (int n = 1; FileExists(copy) && n < 100; ++n) copy = path_ + ".rescued-" + std::to_string(::getpid()) + "-" + std::to_string(n);
    SqlStmt vacuum(impl_->db_, "VACUUM INTO ?1");
    if (vacuum.valid() && vacuum.Bind(1, copy).Run().ok()) impl_->rescued_ = copy;
    // The write-ahead log is named by the path (`<path>-wal`), so the file
    // now at the path would read this connection's log as its own — and
    // checkpoint it into itself. Move the log into the file it belongs to
    // (through this connection's descriptor) and truncate it to nothing:
    // SQLite will not do that at close for a file that has moved.
    int log_frames = 0, done = 0;
    impl_->wal_drained_ =
        sqlite3_wal_checkpoint_v2(impl_->db_, "main", SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &done) == SQLITE_OK;
  }
  const std::string& saved = impl_->rescued_;
  return Status::IoError(path_ + ": the ledger file was replaced or removed while it was open (device/inode changed); "
                         "nothing more is appended" +
                         (saved.empty() ? std::string(" (the entries committed through this connection could not be copied)")
                                        : "; every entry committed through this connection is saved in " + saved) +
                         (impl_->wal_drained_ ? std::string()
                                              : " (warning: this connection's write-ahead log " + path_ +
                                                    "-wal could not be emptied; move it away before opening the file now at the path)"));
}

StatusOr<AppendResult> Ledger::Append(const std::vector<LedgerEntry>& entries, const PrivateKey& key) {
  if (entries.empty()) return Status::InvalidInput("no entries to append");
  DG_ASSIGN_OR_RETURN(NoteVerifier verifier, NoteVerifier::Make(origin_, key.public_key()));
  if (verifier.ToString() != vkey_) {
    return Status::InvalidInput("the signing key does not match this ledger's key (" + vkey_ + ")");
  }
  DG_RETURN_IF_ERROR(CheckIdentity());
  sqlite3* db = impl_->db_;
  // Inside a Transaction (or a read snapshot's) this batch is a savepoint of
  // it; otherwise its own transaction, taking the write lock first.
  const bool nested = !sqlite3_get_autocommit(db);
  if (nested && !impl_->in_transaction_) {
    return Status::Internal("append inside a read snapshot: end the snapshot first");
  }
  DG_RETURN_IF_ERROR(SqlExec(db, nested ? "SAVEPOINT dg_append" : "BEGIN IMMEDIATE").WithContext(path_));
  auto body = [&]() -> StatusOr<AppendResult> {
    DG_ASSIGN_OR_RETURN(auto head, impl_->Head());
    const uint64_t old_size = head.first;
    // The tree we extend must be the one our last checkpoint signed.
    Checkpoint old_cp;
    if (head.second == impl_->trusted_head_) {
      DG_ASSIGN_OR_RETURN(old_cp, ParseCheckpointBody(head.second.substr(0, head.second.rfind("\n\n") + 1)));
    } else {
      DG_ASSIGN_OR_RETURN(old_cp, OpenCheckpoint(head.second, verifier));
    }
    if (old_cp.size != old_size) return Status::VerifyFailed("head size disagrees with its checkpoint");
    SqlStmt& mx = impl_->stmts_.max_idx.Reset();
    DG_ASSIGN_OR_RETURN(bool row, mx.Step());
    const int64_t max_idx = (row && !mx.ColumnIsNull(0)) ? mx.ColumnInt(0) : -1;
    mx.Reset();
    if (max_idx + 1 != static_cast<int64_t>(old_size)) {
      return Status::VerifyFailed("ledger holds " + std::to_string(max_idx + 1) + " leaves but its head says " +
                                  std::to_string(old_size) + "; run `distillgate ledger verify`");
    }
    DG_ASSIGN_OR_RETURN(CompactRange range, CompactRange::FromStorage(old_size, impl_->Reader()));
    if (range.Root() != old_cp.root) {
      return Status::VerifyFailed("stored tree does not match the signed head; run `distillgate ledger verify`");
    }
    // Each leaf row carries the interior nodes its append completes.
    // (Hashing on a second thread was tried: spawning it cost more than it
    // saved for batches of 1000; see bench/RESULTS.md.)
    const size_t n = entries.size();
    std::string completed;
    CompactRange::NodeSink sink = [&completed](int level, uint64_t, const Hash& h) {
      if (level >= kFirstStoredLevel) completed += AsBytes(h);
    };
    SqlStmt& ins_leaf = impl_->stmts_.insert_leaf;
    for (size_t k = 0; k < n; ++k) {
      completed.clear();
      range.Append(entries[k].leaf_hash(), sink);
      DG_RETURN_IF_ERROR(ins_leaf.Reset()
                             .Bind(1, static_cast<int64_t>(old_size + k))
                             .BindBlob(2, completed)
                             .BindBlob(3, entries[k].data())
                             .Run());
    }
    Checkpoint cp{origin_, range.size(), range.Root()};
    DG_ASSIGN_OR_RETURN(std::string note, SignCheckpoint(cp, key));
    DG_RETURN_IF_ERROR(impl_->stmts_.insert_cp.Reset().Bind(1, static_cast<int64_t>(cp.size)).Bind(2, note).Run());
    SqlStmt& cas = impl_->stmts_.cas_head.Reset();
    DG_RETURN_IF_ERROR(cas.Bind(1, static_cast<int64_t>(cp.size))
                           .Bind(2, note)
                           .Bind(3, static_cast<int64_t>(old_size))
                           .Bind(4, head.second)
                           .Run());
    if (sqlite3_changes(db) != 1) return Status::IoError("head changed under us (compare-and-swap failed)");
    AppendResult r;
    r.first_index = old_size;
    r.tree_size = cp.size;
    r.checkpoint = std::move(note);
    return r;
  }();
  // Undoing a failed batch: if the rollback itself fails, SQLite has already
  // rolled the transaction back (that is when it fails), so the error the
  // caller needs is the one that stopped the batch.
  auto undo = [db, nested] {
    SqlExec(db, nested ? "ROLLBACK TO dg_append" : "ROLLBACK").IgnoreError();
    if (nested) SqlExec(db, "RELEASE dg_append").IgnoreError();
  };
  if (!body.ok()) {
    undo();
    return body.status().WithContext(path_);
  }
  Status c = SqlExec(db, nested ? "RELEASE dg_append" : "COMMIT");
  if (!c.ok()) {
    undo();
    return c.WithContext(path_);
  }
  impl_->trusted_head_ = body->checkpoint;
  return body;
}

StatusOr<uint64_t> Ledger::Size() {
  DG_ASSIGN_OR_RETURN(auto head, impl_->Head());
  return head.first;
}

StatusOr<std::string> Ledger::HeadNote() {
  DG_ASSIGN_OR_RETURN(auto head, impl_->Head());
  return head.second;
}

StatusOr<StoredLeaf> Ledger::GetLeaf(uint64_t index) {
  SqlStmt& s = impl_->stmts_.leaf.Reset().Bind(1, static_cast<int64_t>(index));
  DG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::InvalidInput("ledger has no entry " + std::to_string(index));
  StoredLeaf l;
  l.index = index;
  l.nodes = s.ColumnBlob(0);
  l.data = s.ColumnBlob(1);
  l.kind = EntryKindOf(l.data);
  l.leaf_hash = LeafHash(l.data);
  s.Reset();
  return l;
}

StatusOr<std::string> Ledger::CheckpointNote(uint64_t size) {
  SqlStmt& s = impl_->stmts_.cp_at.Reset().Bind(1, static_cast<int64_t>(size));
  DG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::InvalidInput("ledger kept no checkpoint at tree size " + std::to_string(size));
  std::string note = s.ColumnText(0);
  s.Reset();
  return note;
}

StatusOr<std::vector<std::pair<uint64_t, std::string>>> Ledger::Checkpoints() {
  SqlStmt& s = impl_->stmts_.cps.Reset();
  std::vector<std::pair<uint64_t, std::string>> out;
  for (;;) {
    DG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.emplace_back(static_cast<uint64_t>(s.ColumnInt(0)), s.ColumnText(1));
  }
  return out;
}

Ledger::ReadSnapshot::ReadSnapshot(Ledger& ledger) : ledger_(ledger) {
  // Outside a transaction every statement takes and drops its own file lock;
  // a deferred transaction takes one for all of them. A failure here only
  // costs speed: each read still runs (and checks) on its own.
  // Inside a Transaction the reads already share one.
  if (ledger_.impl_->read_depth_++ == 0 && sqlite3_get_autocommit(ledger_.impl_->db_)) {
    ledger_.impl_->snapshot_began_ = SqlExec(ledger_.impl_->db_, "BEGIN DEFERRED").ok();
  }
}

Ledger::ReadSnapshot::~ReadSnapshot() {
  Impl& impl = *ledger_.impl_;
  if (--impl.read_depth_ == 0 && impl.snapshot_began_) {
    impl.snapshot_began_ = false;
    // Ends a read-only transaction: nothing to lose if it fails.
    SqlExec(impl.db_, "COMMIT").IgnoreError();
  }
}

StatusOr<std::unique_ptr<Ledger::Transaction>> Ledger::Transaction::Begin(Ledger& ledger, Writes writes) {
  Impl& impl = *ledger.impl_;
  if (impl.in_transaction_) return Status::Internal("a ledger transaction is already open");
  if (!sqlite3_get_autocommit(impl.db_)) return Status::Internal("cannot begin a ledger transaction inside a read snapshot");
  DG_RETURN_IF_ERROR(ledger.CheckIdentity());
  std::unique_ptr<Transaction> t(new Transaction(ledger));
  // SQLite refuses the switch (and the mode stays WAL) while another
  // connection has the ledger open; the transaction is then an ordinary one.
  if (writes == Writes::kBulk) t->left_wal_ = JournalMode(impl.db_, "DELETE") == "delete";
  Status begun = SqlExec(impl.db_, "BEGIN IMMEDIATE").WithContext(ledger.path_);
  if (!begun.ok()) {
    t->open_ = false;
    t->BackToWal();
    return begun;
  }
  impl.in_transaction_ = true;
  return t;
}

void Ledger::Transaction::BackToWal() {
  if (!left_wal_) return;
  left_wal_ = false;
  // Should this fail (another process got in first), the ledger is still
  // consistent in rollback-journal mode, and the next read-write Open
  // switches it back.
  (void)JournalMode(ledger_.impl_->db_, "WAL");
}

Status Ledger::Transaction::Mark() {
  Impl& impl = *ledger_.impl_;
  if (!open_) return Status::Internal("ledger transaction already ended");
  if (marked_) DG_RETURN_IF_ERROR(SqlExec(impl.db_, "RELEASE dg_mark").WithContext(ledger_.path_));
  marked_ = false;
  DG_RETURN_IF_ERROR(SqlExec(impl.db_, "SAVEPOINT dg_mark").WithContext(ledger_.path_));
  marked_ = true;
  return Status::Ok();
}

Status Ledger::Transaction::RollbackToMark() {
  Impl& impl = *ledger_.impl_;
  if (!open_ || !marked_) return Status::Internal("no ledger transaction mark to roll back to");
  impl.trusted_head_.clear();  // the head it names may be gone
  return SqlExec(impl.db_, "ROLLBACK TO dg_mark").WithContext(ledger_.path_);
}

Status Ledger::Transaction::Commit() {
  Impl& impl = *ledger_.impl_;
  if (!open_) return Status::Internal("ledger transaction already ended");
  Status c = SqlExec(impl.db_, "COMMIT");
  if (!c.ok()) {
    // The destructor rolls back.
    return c.WithContext(ledger_.path_);
  }
  open_ = false;
  impl.in_transaction_ = false;
  BackToWal();
  return Status::Ok();
}

Ledger::Transaction::~Transaction() {
  if (!open_) return;
  Impl& impl = *ledger_.impl_;
  // A failed ROLLBACK leaves SQLite's own automatic rollback: nothing the
  // transaction wrote is committed either way.
  SqlExec(impl.db_, "ROLLBACK").IgnoreError();
  impl.trusted_head_.clear();
  impl.in_transaction_ = false;
  BackToWal();
}

StatusOr<std::vector<Hash>> Ledger::InclusionProof(uint64_t index, uint64_t tree_size) {
  ReadSnapshot snap(*this);
  return ::dg::InclusionProof(index, tree_size, impl_->Reader());
}

StatusOr<std::vector<Hash>> Ledger::ConsistencyProof(uint64_t old_size, uint64_t new_size) {
  ReadSnapshot snap(*this);
  return ::dg::ConsistencyProof(old_size, new_size, impl_->Reader());
}

StatusOr<Hash> Ledger::RootAt(uint64_t tree_size) {
  ReadSnapshot snap(*this);
  return RootHash(tree_size, impl_->Reader());
}


namespace {

class SqlLeafScanner : public Ledger::LeafScanner {
 public:
  SqlLeafScanner(sqlite3* db, uint64_t from, uint64_t to)
      : stmt_(db, "SELECT idx, nodes, data FROM leaf WHERE idx >= ?1 AND idx < ?2 ORDER BY idx") {
    if (stmt_.valid()) stmt_.Bind(1, static_cast<int64_t>(from)).Bind(2, static_cast<int64_t>(to));
  }
  Status status() const { return stmt_.prepare_status(); }
  StatusOr<bool> Next(StoredLeaf* leaf) override {
    DG_ASSIGN_OR_RETURN(bool row, stmt_.Step());
    if (!row) return false;
    leaf->index = static_cast<uint64_t>(stmt_.ColumnInt(0));
    std::string_view nodes = stmt_.ColumnBlobView(1), data = stmt_.ColumnBlobView(2);
    leaf->nodes.assign(nodes.data(), nodes.size());
    leaf->data.assign(data.data(), data.size());
    leaf->kind = EntryKindOf(leaf->data);
    leaf->leaf_hash = LeafHash(leaf->data);
    return true;
  }

 private:
  SqlStmt stmt_;
};

}  // namespace

StatusOr<std::unique_ptr<Ledger::LeafScanner>> Ledger::ScanLeaves(uint64_t from, uint64_t to) {
  // SQLite's integers are signed: a bound past 2^63-1 would wrap to a
  // negative one and select from the start.
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (from > kMax || to > kMax) return Status::InvalidInput("leaf range [" + std::to_string(from) + ", " + std::to_string(to) + ") is out of range");
  auto s = std::make_unique<SqlLeafScanner>(impl_->db_, from, to);
  DG_RETURN_IF_ERROR(s->status());
  return std::unique_ptr<LeafScanner>(std::move(s));
}

StatusOr<uint64_t> Ledger::CountLeaves() {
  SqlStmt& s = impl_->stmts_.count_leaves.Reset();
  DG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::Internal("count query returned no row");
  uint64_t n = static_cast<uint64_t>(s.ColumnInt(0));
  s.Reset();
  return n;
}

}  // namespace dg
