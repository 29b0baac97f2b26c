#!/usr/bin/env python3
"""A stand-in OpenAI-compatible chat-completions server for the live-call tests.

Binds 127.0.0.1 on a free port and prints the port. Answers POST
/v1/chat/completions deterministically (the last user message, reversed),
and POST /v1/completions (the prompt, reversed).
Fault injection: --fail-first N answers the first N requests with 503;
--die-after N exits after N answered requests; --model M reports model M;
--auth-log FILE appends each request's Authorization header to FILE.
`"stream": true` is answered as server-sent chat.completion.chunk events
(a few characters each, then `data: [DONE]`); GET /v1/models lists the
model. Requests are served on threads (the proxy's concurrency tests).
--fail-model M answers requests for model M with 429 (--echo-auth: its
error message quotes the request's Authorization header; --null-message: its
error message is null). Misbehaving answers, for the proxy's tests:
--bad-utf8 puts a byte that is not UTF-8 in every answer; --null-error adds
`"error": null` to every stream chunk; --cut-stream ends streams before
`data: [DONE]`.
"""
import argparse
import ctypes
import signal
import socket
import http.server
import json
import os
import sys
import threading

p = argparse.ArgumentParser()
p.add_argument("--fail-first", type=int, default=0)
p.add_argument("--die-after", type=int, default=0)
p.add_argument("--model", default="")
p.add_argument("--auth-log", default="")
p.add_argument("--fail-model", default="")
p.add_argument("--echo-auth", action="store_true")
p.add_argument("--null-message", action="store_true")
p.add_argument("--bad-utf8", action="store_true")
p.add_argument("--null-error", action="store_true")
p.add_argument("--cut-stream", action="store_true")
args = p.parse_args()
# Ends with the test that started it, even when the test crashes: an orphan
# would hold the test's output pipe open and ctest would wait for it forever.
ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
state = {"requests": 0, "answered": 0}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/v1/models":
            return self.reply(404, {"error": {"message": "not found"}})
        models = [args.model or "fake-lm", "other-model"]
        self.reply(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in models]})

    def do_POST(self):
        if state.get("dying"):  # --die-after: gone; the connection closes unanswered
            self.close_connection = True
            return
        with lock:
            state["requests"] += 1
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if args.auth_log:
            with open(args.auth_log, "a") as f:
                f.write(self.headers.get("Authorization", "") + "\n")
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            return self.reply(404, {"error": {"message": "not found"}})
        if state["requests"] <= args.fail_first:
            return self.reply(503, {"error": {"message": "overloaded, try again"}})
        if args.fail_model and body.get("model") == args.fail_model:
            message = "rate limit reached for " + args.fail_model
            if args.echo_auth:
                message += " (you sent " + self.headers.get("Authorization", "") + ")"
            return self.reply(429, {"error": {"message": None if args.null_message else message, "type": "requests", "code": "rate_limit_exceeded"}})
        completion = self.path == "/v1/completions"
        last = body["prompt"] if completion else [m.get("content", "") for m in body["messages"] if m.get("role") == "user"][-1]
        answer = last[::-1]
        with lock:
            n = state["answered"]
            state["answered"] += 1
        if completion:
            return self.completion(body, n, answer, last)
        if body.get("stream"):
            return self.stream(body, n, answer, last)
        self.reply(200, {
            "id": "chatcmpl-fake-%d" % n, "object": "chat.completion", "created": 1764400000 + n,
            "model": args.model or body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(last), "completion_tokens": len(answer), "total_tokens": len(last) + len(answer)},
            "system_fingerprint": None})
        self.maybe_die()

    def maybe_die(self):
        if args.die_after and state["answered"] >= args.die_after:
            # Nothing is answered after the Nth answer: new connections are
            # refused and requests already arriving get no reply. The last
            # answer must still reach the client before the process goes:
            # exiting at once could reset the connection and lose it (the
            # client then counts one answer fewer than the server sent). So
            # end the sending side and wait, briefly, for the client to close.
            state["dying"] = True
            sys.stdout.flush()
            try:
                server.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(5)
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass
            os._exit(0)

    def completion(self, body, n, answer, last):
        base = {"id": "cmpl-fake-%d" % n, "object": "text_completion", "created": 1764400000 + n,
                "model": args.model or body["model"], "system_fingerprint": None}
        if not body.get("stream"):
            return self.reply(200, dict(base, choices=[{"index": 0, "text": answer, "logprobs": None, "finish_reason": "stop"}],
                                        usage={"prompt_tokens": len(last), "completion_tokens": len(answer),
                                               "total_tokens": len(last) + len(answer)}))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(answer), 3):
            self.chunk(("data: " + json.dumps(dict(base, choices=[{"index": 0, "text": answer[i:i + 3], "logprobs": None,
                                                                   "finish_reason": None}])) + "\n\n").encode())
        self.chunk(("data: " + json.dumps(dict(base, choices=[{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}])) + "\n\n").encode())
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")

    def stream(self, body, n, answer, last):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req-%d" % state["requests"])
        self.end_headers()
        base = {"id": "chatcmpl-fake-%d" % n, "object": "chat.completion.chunk", "created": 1764400000 + n,
                "model": args.model or body["model"], "system_fingerprint": None}
        deltas = [{"role": "assistant", "content": ""}] + [{"content": answer[i:i + 3]} for i in range(0, len(answer), 3)]
        events = [dict(base, choices=[{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        events.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if args.null_error:
            events = [dict(e, error=None) for e in events]
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(dict(base, choices=[], usage={"prompt_tokens": len(last), "completion_tokens": len(answer),
                                                          "total_tokens": len(last) + len(answer)}))
        for e in events:
            self.chunk(self.bad(("data: " + json.dumps(e) + "\n\n").encode()))
        if not args.cut_stream:
            self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")
        self.maybe_die()

    def bad(self, data):  # --bad-utf8: a byte that is not UTF-8 inside the first string value with "a"
        return data.replace(b"a", b"a\xff", 1) if args.bad_utf8 else data

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def reply(self, status, obj):
        data = self.bad(json.dumps(obj).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req-%d" % state["requests"])
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


http.server.ThreadingHTTPServer.request_queue_size = 256  # many clients connect at once
http.server.ThreadingHTTPServer.handle_error = lambda self, request, address: None  # a client killed mid-call is a test, not an error
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
