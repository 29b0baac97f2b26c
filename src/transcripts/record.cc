// `transcripts record`: decide, then record every exchange of the job's
// transcripts, in one pass and one ledger transaction.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "core/encoding.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "record/recorded_run.h"
#include "transcripts/call_entry.h"
#include "transcripts/transcript_run.h"

namespace dg {

using json = nlohmann::json;
using namespace transcripts_internal;

namespace {

// The lines of a file (a last line without its newline counts), for the
// progress bar's total: one quick pass, from the page cache the read that
// follows uses. 0 when the file cannot be read (the read then says why).
uint64_t CountLines(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::string buf(1 << 20, '\0');
  uint64_t lines = 0;
  char last = '\n';
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) {
    const char* end = buf.data() + n;
    for (const char* p = buf.data(); (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)))) != nullptr; ++p) ++lines;
    last = buf[static_cast<size_t>(n) - 1];
  }
  ::close(fd);
  return lines + (last != '\n');
}

}  // namespace

StatusOr<TranscriptRunSummary> RecordTranscripts(const Job& job, const Policy& policy, Ledger& ledger,
                                                 const PrivateKey& key, const TranscriptRunOptions& o) {
  const std::vector<TranscriptSource> sources = TranscriptSourcesOf(job);
  if (sources.empty()) {
    return Status::InvalidInput("job " + job.name + ": no teacher has a `transcript` (docs/transcripts.md)");
  }
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::ForThisProcess());
  const auto metas = TeacherMetas(job, *kb);
  TranscriptRunSummary s;

  // Each file as it is before reading: one that changes while it is read is
  // refused. What is pinned (in run_end) is the SHA-256 of the bytes read,
  // computed while reading them, so the files are not read an extra time.
  std::map<std::string, FileStamp> stamps;
  for (const auto& src : sources) {
    for (const std::string& path : {src.path, src.output_path}) {
      if (path.empty()) continue;
      DG_ASSIGN_OR_RETURN(stamps[path], StampOf(path));
    }
  }

  // One pass in one ledger transaction: decide, then read, check and record
  // every line. Whatever stops the run before the end (a malformed line, a
  // file that changed, an error) rolls all of it back, the decision too: bad
  // input writes nothing. Only SIGINT/SIGTERM keeps what was recorded: the
  // run is then closed as interrupted and committed. Parsing, checking and
  // building the entries run on every core; the ledger appends on this
  // thread, in file order.
  DG_ASSIGN_OR_RETURN(auto transaction, Ledger::Transaction::Begin(ledger, Ledger::Transaction::Writes::kBulk));
  DG_ASSIGN_OR_RETURN(std::optional<Permit> permit, DecideTranscriptRun(job, policy, *kb, ledger, key, o.today, &s));
  json teachers = json::array();
  for (const auto& src : sources) teachers.push_back(metas.at(src.teacher_id).ToJson());
  json sources_j = json::array();
  for (const auto& src : sources) {
    json j = {{"teacher", src.teacher_id}, {"format", src.format}, {"path", src.path}};
    if (!src.output_path.empty()) j["output"] = src.output_path;
    sources_j.push_back(j);
  }
  std::unique_ptr<RecordedRun> run;
  if (permit) {
    DG_ASSIGN_OR_RETURN(run, RecordedRun::Begin(*permit, job, ledger, key,
                                                {"transcripts",
                                                 {{"api_teachers", teachers},
                                                  {"transcripts", sources_j},
                                                  {"skip_bad_lines", o.skip_bad_lines}},
                                                 o.flush_every}));
    DG_RETURN_IF_ERROR(transaction->Mark());  // a refused run keeps only its start (and end)
  }
  const CallRecorder::Appended at_start = run ? run->calls().Save() : CallRecorder::Appended{};
  // Bad input (or a failure) rolls the whole transaction back: the run's
  // entries with it, so there is nothing to close.
  auto abandon = [&run](const Status& st) {
    if (run) run->Discard();
    return st;
  };
  bool recording = permit.has_value();  // false once the run cannot complete: lines are still checked and counted
  std::vector<std::string> problems;
  uint64_t problem_count = 0, sequence = 0;
  std::vector<std::pair<std::string, Hash>> files_read;
  ProgressBar progress(!o.quiet, "lines");
  for (const auto& src : sources) {
    const TeacherMeta& t = metas.at(src.teacher_id);
    TranscriptReadOptions ro = permit ? PreparingCalls(t, s.run_id) : TranscriptReadOptions();
    ro.files_read = &files_read;
    // One item per line of the output file (openai-batch) or the exchanges file.
    const uint64_t total = progress.on() ? CountLines(src.output_path.empty() ? src.path : src.output_path) : 0;
    progress.Start("record " + src.teacher_id, total);
    uint64_t items = 0;
    Status read = ReadTranscript(
        src,
        [&](TranscriptItem& it) -> Status {
          DG_RETURN_IF_ERROR(CheckNotStopped("recording the transcripts"));
          if (++items < total || total == 0) progress.Update(items);  // the last one ends the line, below
          if (it.kind == TranscriptItem::Kind::kProblem) {
            const TranscriptProblem& p = it.problem;
            ++problem_count;
            if (problems.size() < 20) problems.push_back(p.ToString());
            if (!o.skip_bad_lines) recording = false;
            if (!recording) return Status::Ok();
            return run->calls().RecordEntry("transcript_line_skipped",
                                            {{"teacher", src.teacher_id}, {"file", p.file}, {"line", p.line},
                                             {"line_sha256", p.line_sha256},
                                             {"error", (p.pointer.empty() ? "" : p.pointer + ": ") + p.what}});
          }
          const Exchange& e = it.exchange;
          ++s.exchanges;
          const uint64_t seq = sequence++;
          if (e.failed) {
            ++s.failed_calls;
          } else if (!ModelAllowedFor(t.model, e.model)) {
            ++s.disallowed_calls;
            if (s.findings.size() < 20) {
              s.findings.push_back(e.file + ":" + std::to_string(e.line) + ": /response/model: \"" + e.model +
                                   "\" is not a model the job names for teacher " + t.id +
                                   (t.model.empty() ? " (it names none)" : " (\"" + t.model + "\")"));
            }
            if (policy.mode == PolicyMode::kEnforce) recording = false;
          }
          if (!recording) return Status::Ok();
          DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(it.prepared, seq));
          return run->calls().RecordPrepared(std::move(entry), true);
        },
        ro);
    if (total > 0 && items >= total) progress.Update(total);
    else progress.Finish();
    if (read.code() == Status::Code::kInterrupted && run) {
      // Keep what was recorded: the run closes as interrupted, and commits.
      Status closed = run->Fail(read);
      if (closed.code() == Status::Code::kInterrupted) DG_RETURN_IF_ERROR(transaction->Commit());
      return closed;
    }
    if (!read.ok()) return abandon(read);
  }
  // The bytes read, pinned: from files that did not change meanwhile.
  std::map<std::string, Hash> read_sha;
  for (const auto& [path, sha] : files_read) read_sha[path] = sha;
  json files = json::array();
  for (const auto& src : sources) {
    for (const std::string& path : {src.path, src.output_path}) {
      if (path.empty()) continue;
      auto now = StampOf(path);
      if (!now.ok() || !(*now == stamps[path]) || !read_sha.count(path)) {
        return abandon(Status::IoError(path + " changed while it was being read; nothing was recorded"));
      }
      files.push_back({{"teacher", src.teacher_id}, {"format", src.format}, {"path", path},
                       {"sha256", HexEncode(read_sha[path])}, {"bytes", now->size}});
    }
  }
  if (problem_count > 0 && !o.skip_bad_lines) {
    std::string msg = std::to_string(problem_count) + " malformed transcript line(s); nothing was recorded (give --skip-bad-lines to record them as skipped):";
    for (const auto& p : problems) msg += "\n  " + p;
    if (problem_count > problems.size()) msg += "\n  …";
    return abandon(Status::InvalidInput(msg));
  }
  s.skipped_lines = problem_count;
  if (s.exchanges == 0) {
    return abandon(Status::InvalidInput("the transcripts hold no exchange" +
                                        std::string(problem_count > 0 ? " (every line was skipped)" : "") +
                                        ": there is nothing to record; nothing was written"));
  }
  if (!run) {
    DG_RETURN_IF_ERROR(transaction->Commit());  // the decision alone
    return s;
  }
  // The per-call policy: in enforce mode a call to a model the job does not
  // name refuses the run, and none of its calls stays recorded as usable.
  if (s.disallowed_calls > 0 && policy.mode == PolicyMode::kEnforce) {
    if (Status st = transaction->RollbackToMark(); !st.ok()) return abandon(st);
    run->calls().Restore(at_start);
    if (Status st = run->Refuse({{"reason", "calls to models the decision does not allow"},
                                 {"disallowed_calls", s.disallowed_calls},
                                 {"findings", s.findings},
                                 {"files", files}});
        !st.ok()) {
      return abandon(st);
    }
    DG_RETURN_IF_ERROR(transaction->Commit());
    s.status = RunStatus::kRefused;
    s.exit_code = 1;
    return s;
  }
  if (Status st = run->calls().Flush(); !st.ok()) return abandon(st);
  if (Status st = run->Complete({{"teacher_calls", run->calls().recorded()},
                                 {"teacher_calls_root", Base64Encode(run->calls().calls_root())},
                                 {"failed_calls", s.failed_calls},
                                 {"skipped_lines", s.skipped_lines},
                                 {"disallowed_calls", s.disallowed_calls},
                                 {"findings", s.findings},
                                 {"files", files}});
      !st.ok()) {
    return abandon(st);
  }
  DG_RETURN_IF_ERROR(transaction->Commit());
  s.status = RunStatus::kCompleted;
  return s;
}

}  // namespace dg
