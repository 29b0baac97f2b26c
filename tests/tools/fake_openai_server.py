#!/usr/bin/env python3
"""A stand-in OpenAI-compatible chat-completions server for the live-call tests.

Binds 127.0.0.1 on a free port and prints the port. Answers POST
/v1/chat/completions deterministically (the last user message, reversed).
Fault injection: --fail-first N answers the first N requests with 503;
--die-after N exits after N answered requests; --model M reports model M;
--auth-log FILE appends each request's Authorization header to FILE.
"""
import argparse
import http.server
import json
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("--fail-first", type=int, default=0)
p.add_argument("--die-after", type=int, default=0)
p.add_argument("--model", default="")
p.add_argument("--auth-log", default="")
args = p.parse_args()
state = {"requests": 0, "answered": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        state["requests"] += 1
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if args.auth_log:
            with open(args.auth_log, "a") as f:
                f.write(self.headers.get("Authorization", "") + "\n")
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": "not found"}})
        if state["requests"] <= args.fail_first:
            return self.reply(503, {"error": {"message": "overloaded, try again"}})
        last = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"][-1]
        answer = last[::-1]
        n = state["answered"]
        self.reply(200, {
            "id": "chatcmpl-fake-%d" % n, "object": "chat.completion", "created": 1764400000 + n,
            "model": args.model or body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(last), "completion_tokens": len(answer), "total_tokens": len(last) + len(answer)},
            "system_fingerprint": None})
        state["answered"] += 1
        if args.die_after and state["answered"] >= args.die_after:
            sys.stdout.flush()
            os._exit(0)

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req-%d" % state["requests"])
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
