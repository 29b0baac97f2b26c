// `distillgate serve-teacher`: a byte-level LM (train-lm's output) served as
// an OpenAI-compatible chat-completions endpoint on 127.0.0.1, so that
// `transcripts collect` (or any OpenAI client) can query it as a black box.
// No torch in this header.
#ifndef DISTILLGATE_TRAIN_SERVE_TEACHER_H_
#define DISTILLGATE_TRAIN_SERVE_TEACHER_H_

#include <functional>

#include "core/status.h"

namespace dg {

struct ServeOptions {
  std::string model_path;
  int port = 0;            // 0 = any free port
  int max_tokens = 64;     // default completion length in bytes
  // Called once listening, with the port (the CLI prints it).
  std::function<void(int port)> on_listening;
};

// Serves POST /v1/chat/completions on 127.0.0.1 until the process ends,
// one generation at a time (requests are answered in arrival order).
// Returns IoError when the port cannot be bound (nothing was served), and
// when the server stops. The model file is read once, before listening.
Status ServeTeacher(const ServeOptions& options);

}  // namespace dg

#endif  // DISTILLGATE_TRAIN_SERVE_TEACHER_H_
