// The signed, append-only ledger: an RFC 6962 Merkle log in one SQLite file
// with a C2SP signed checkpoint per appended batch. docs/ledger-format.md
// describes every table and byte.
//
// Errors: IoError for the file system and SQLite (unwritable, locked past
// the 60 s busy timeout, full disk), VerifyFailed when the file is not a
// well-formed ledger (a missing leaf, a head whose signature fails),
// InvalidInput for arguments out of range (an index past the end).
// Atomicity: each Append() is one SQLite transaction (WAL, synchronous=FULL):
// after a crash at any moment the file holds exactly the batches whose
// Append() returned, plus at most the one in flight, whole or not at all.
// Triggers in the schema refuse every UPDATE and DELETE of committed rows.
// Thread safety: a Ledger object is one SQLite connection opened with
// SQLITE_OPEN_NOMUTEX: it may be used by one thread at a time (handing it to
// a helper thread is fine; two threads calling it at once is not). Separate
// Ledger objects, in one process or several, may append to the same file
// concurrently: SQLite's file locks order their batches.
#ifndef DISTILLGATE_LEDGER_LEDGER_H_
#define DISTILLGATE_LEDGER_LEDGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/ed25519.h"
#include "core/hash.h"
#include "core/status.h"
#include "ledger/checkpoint.h"
#include "ledger/entry.h"
#include "ledger/note.h"

namespace dg {

// Interior subtree hashes are stored from this level up (one per 8 leaves
// and above); the levels below are recomputed from at most 4 leaves. This
// keeps stored hashes to ~1/4 of the interior nodes.
inline constexpr int kFirstStoredLevel = 3;

struct StoredLeaf {
  uint64_t index = 0;
  std::string kind;   // EntryKindOf(data)
  std::string data;   // the exact leaf bytes
  std::string nodes;  // stored hashes of the subtrees of level >= kFirstStoredLevel this leaf completed, lowest first
  Hash leaf_hash{};   // LeafHash(data), computed on read
};

struct AppendResult {
  uint64_t first_index = 0;  // index of the batch's first entry
  uint64_t tree_size = 0;    // size after the batch
  std::string checkpoint;    // the batch's signed note
};

class Ledger {
 public:
  enum class Mode { kReadOnly, kReadWrite };
  static constexpr int kSchemaVersion = 1;
  // SQLite page size of new ledgers. Rows are ~0.3-1 KB entries appended in
  // order; 64 KiB pages cut the system calls of writing and checkpointing
  // them (recording 1M transcript lines: 19.0 s with 4 KiB pages, 11.5 s with
  // these). Existing ledgers keep theirs; any page size reads the same.
  static constexpr int kPageSize = 65536;

  // Creates a new ledger file with an empty tree and its signed size-0
  // checkpoint. Refuses if `path` exists. Nothing is left behind on failure.
  static Status Init(const std::string& path, const PrivateKey& key, const std::string& origin);
  // Opens an existing ledger; never creates one. IoError when the file does
  // not exist or cannot be opened in `mode`; VerifyFailed when it is not a
  // distillgate ledger of a schema version this build reads.
  static StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path, Mode mode);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  const std::string& path() const { return path_; }
  const std::string& origin() const { return origin_; }
  // The verifier key recorded in the file. Informational only: verification
  // must use a key the verifier trusts, not this one.
  const std::string& recorded_vkey() const { return vkey_; }

  // Appends all entries in one transaction with one signed checkpoint. The
  // key must be the ledger's key. Safe against concurrent appenders. First
  // checks that the path still names the file opened: a ledger replaced or
  // removed meanwhile (mv, rm) stops the append with IoError, and what this
  // object committed is saved as <path>.rescued-<pid> (once).
  StatusOr<AppendResult> Append(const std::vector<LedgerEntry>& entries, const PrivateKey& key);

  StatusOr<uint64_t> Size();
  StatusOr<std::string> HeadNote();
  StatusOr<StoredLeaf> GetLeaf(uint64_t index);
  // The note of the checkpoint kept for exactly `size`.
  StatusOr<std::string> CheckpointNote(uint64_t size);
  // Every kept checkpoint as (size, note), ascending.
  StatusOr<std::vector<std::pair<uint64_t, std::string>>> Checkpoints();

  // Makes the appends made while it lives one SQLite transaction (holding
  // the write lock throughout): other readers see them, and a crash keeps
  // them, only after Commit(); destroyed without Commit() — an error on the
  // way —, none of them remains. Each Append inside still signs its own
  // checkpoint. For one process writing a long run that must be all or
  // nothing (e.g. recording a whole transcript, docs/transcripts.md).
  //
  // Writes::kBulk is for one transaction of very many appends (a million
  // transcript lines): for its duration the ledger leaves WAL mode for a
  // rollback journal (if no other connection has it open), so that each page
  // is written once, into the ledger file, instead of into the WAL and then
  // again by the checkpoint at commit (1M lines: ~1 s less; docs/ledger-format.md §7).
  // Meanwhile other processes cannot read the ledger: they wait for the
  // commit (up to the 60 s busy timeout). A crash in between leaves a hot
  // journal that the next Open rolls back; it returns to WAL either way.
  class Transaction {
   public:
    enum class Writes { kFew, kBulk };
    static StatusOr<std::unique_ptr<Transaction>> Begin(Ledger& ledger, Writes writes = Writes::kFew);
    ~Transaction();  // rolls back unless committed
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    // Remembers the present state; RollbackToMark() undoes every append made
    // since (the transaction goes on). One mark at a time; Mark() moves it.
    Status Mark();
    Status RollbackToMark();
    Status Commit();

   private:
    explicit Transaction(Ledger& ledger) : ledger_(ledger) {}
    void BackToWal();
    Ledger& ledger_;
    bool open_ = true, marked_ = false;
    bool left_wal_ = false;  // Writes::kBulk switched the journal mode
  };

  // Holds one read transaction: every read while it lives sees the same
  // committed state, and reads skip per-statement locking. Nests freely.
  class ReadSnapshot {
   public:
    explicit ReadSnapshot(Ledger& ledger);
    ~ReadSnapshot();
    ReadSnapshot(const ReadSnapshot&) = delete;
    ReadSnapshot& operator=(const ReadSnapshot&) = delete;

   private:
    Ledger& ledger_;
  };

  // Proofs from the stored tree (O(log n) reads); verify them with merkle.h.
  StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t tree_size);
  StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size);
  StatusOr<Hash> RootAt(uint64_t tree_size);

  // Sequential scans for fsck and listings; Next() yields false at the end.
  class LeafScanner {
   public:
    virtual ~LeafScanner() = default;
    virtual StatusOr<bool> Next(StoredLeaf* leaf) = 0;
  };
  StatusOr<std::unique_ptr<LeafScanner>> ScanLeaves(uint64_t from, uint64_t to);
  StatusOr<uint64_t> CountLeaves();

  class Impl;

 private:
  explicit Ledger(std::unique_ptr<Impl> impl);
  // IoError when `path` no longer names the file this object opened.
  Status CheckIdentity();
  std::unique_ptr<Impl> impl_;
  std::string path_, origin_, vkey_;
};

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_LEDGER_H_
