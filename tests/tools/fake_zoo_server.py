#!/usr/bin/env python3
"""A zoo of stand-in models behind one OpenAI-compatible chat-completions
endpoint, for the attribution tests.

Binds 127.0.0.1 on a free port and prints the port. Every model answers a
prompt with `max_tokens` lowercase letters, deterministically:

  * a model on its own gives, at each position, the prompt's "true"
    continuation letter with probability --skill, and otherwise a letter of
    its own (a hash of its name, the prompt and the position) -- models that
    share a task agree often without copying each other;
  * a student NAME=TEACHER:RATE copies its teacher's letter with probability
    RATE at each position and otherwise answers as a model on its own.

--model NAME (repeat) declares a model on its own; --student NAME=TEACHER:RATE
a student. A request for an undeclared model gets 404; --fail-model NAME
answers that model's requests with 500. With `logprobs`, each answer letter
comes with the model's distribution at that position (the mixture above) as
`top_logprobs`; --no-logprobs NAME leaves them out for that model.

The legacy completions endpoint (/v1/completions) scores an echoed prompt
(`echo` with `logprobs: N`): the distribution at the prompt's byte j is the
model's distribution for a first answer letter after prompt[:j], one token a
byte. --no-echo NAME answers that model's completions without logprobs;
--wide-tokens NAME gives that model tokens of two bytes; --bos NAME scores a
"<s>" token of its own before the echoed prompt; --bad-echo NAME echoes and
scores another prompt (its first byte changed) than the one sent.
"""
import argparse
import hashlib
import http.server
import json
import math

p = argparse.ArgumentParser()
p.add_argument("--model", action="append", default=[])
p.add_argument("--student", action="append", default=[])
p.add_argument("--skill", type=float, default=0.6)
p.add_argument("--fail-model", default="")
p.add_argument("--no-logprobs", default="", help="a model that ignores `logprobs`")
p.add_argument("--no-echo", default="", help="a model whose completions come without logprobs")
p.add_argument("--wide-tokens", default="", help="a model whose tokens are two bytes")
p.add_argument("--bos", default="", help="a model that scores a BOS token of its own before an echoed prompt")
p.add_argument("--bad-echo", default="", help="a model that echoes (and scores) another prompt than the one sent")
args = p.parse_args()

LETTERS = "abcdefghijklmnopqrstuvwxyz"
students = {}
for s in args.student:
    name, rest = s.split("=", 1)
    teacher, rate = rest.rsplit(":", 1)
    students[name] = (teacher, float(rate))
models = set(args.model) | set(students)


def unit(*parts):
    h = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def letter(*parts):
    return LETTERS[int(unit(*parts) * 26) % 26]


def answer(model, prompt, n):
    out = []
    for j in range(n):
        pos = str(j)
        if model in students:
            teacher, rate = students[model]
            if unit("copy", model, prompt, pos) < rate:
                out.append(answer(teacher, prompt, j + 1)[j])
                continue
        if unit("skill", model, prompt, pos) < args.skill:
            out.append(letter("truth", prompt, pos))
        else:
            out.append(letter("own", model, prompt, pos))
    return "".join(out)


def dist(model, prompt, j):
    """The distribution a model reports at answer position j (for logprobs)."""
    pos = str(j)
    own = {}
    own[letter("truth", prompt, pos)] = args.skill
    o = letter("own", model, prompt, pos)
    own[o] = own.get(o, 0.0) + (1 - args.skill)
    if model not in students:
        return own
    teacher, rate = students[model]
    out = {k: (1 - rate) * v for k, v in own.items()}
    for k, v in dist(teacher, prompt, j).items():
        out[k] = out.get(k, 0.0) + rate * v
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            return self.reply(404, {"error": {"message": "not found"}})
        model = body.get("model", "")
        if model not in models:
            return self.reply(404, {"error": {"message": "no model " + model}})
        if model == args.fail_model:
            return self.reply(500, {"error": {"message": "this model is down"}})
        if self.path == "/v1/completions":
            return self.complete(model, body)
        prompt = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"][-1]
        text = answer(model, prompt, int(body.get("max_tokens", 8)))
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
        if body.get("logprobs") and model != args.no_logprobs:
            content = []
            for j, ch in enumerate(text):
                d = dist(model, prompt, j)
                tops = sorted(d.items(), key=lambda kv: -kv[1])[:int(body.get("top_logprobs", 0))]
                content.append({"token": ch, "logprob": math.log(d.get(ch, 1e-9)), "bytes": [ord(ch)],
                                "top_logprobs": [{"token": k, "logprob": math.log(v), "bytes": [ord(k)]} for k, v in tops]})
            choice["logprobs"] = {"content": content}
        self.reply(200, {"id": "chatcmpl-zoo", "object": "chat.completion", "created": 1764400000, "model": model,
                         "choices": [choice]})

    def complete(self, model, body):
        prompt = body["prompt"]
        if model == args.bad_echo and prompt:
            prompt = ("X" if prompt[0] != "X" else "Y") + prompt[1:]
        text = answer(model, prompt, int(body.get("max_tokens", 8)))
        echoed = prompt + text if body.get("echo") else text
        logprobs = None
        top = body.get("logprobs")
        if isinstance(top, int) and model != args.no_echo:
            step = 2 if model == args.wide_tokens else 1
            logprobs = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
            for at in range(0, len(echoed), step):
                tok = echoed[at:at + step]
                if at == 0 and body.get("echo"):
                    lp, tops = None, None
                else:
                    d = dist(model, echoed[:at], 0)
                    lp = math.log(d.get(tok, 1e-9))
                    tops = {k: math.log(v) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]}
                logprobs["tokens"].append(tok)
                logprobs["token_logprobs"].append(lp)
                logprobs["top_logprobs"].append(tops)
                logprobs["text_offset"].append(at)
            if model == args.bos and body.get("echo"):
                for key, value in (("tokens", "<s>"), ("token_logprobs", None), ("top_logprobs", None), ("text_offset", 0)):
                    logprobs[key].insert(0, value)
        self.reply(200, {"id": "cmpl-zoo", "object": "text_completion", "created": 1764400000, "model": model,
                         "choices": [{"index": 0, "text": echoed, "logprobs": logprobs, "finish_reason": "length"}]})

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
