"""A small OpenAI-compatible chat-completions server on loopback, scripted by the tests.

It speaks the real wire protocol (POST /v1/chat/completions), records every request it gets, and
answers from a script: a JSON content, an HTTP error, or an answer after a delay.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeLlm:
    server: ThreadingHTTPServer
    script: deque[Answer] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.script.clear()
            self.script.extend(answers)
            self.received.clear()

    def next_answer(self) -> Answer:
        with self.lock:
            return self.script.popleft() if self.script else Answer(status=503, content="script exhausted")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_fake_llm() -> FakeLlm:
    fake: FakeLlm

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with fake.lock:
                fake.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            answer = fake.next_answer()
            if answer.delay_s:
                time.sleep(answer.delay_s)
            if answer.status != 200:
                payload = {"error": {"message": answer.content or "failure", "type": "server_error", "code": None}}
            else:
                payload = {
                    "id": f"chatcmpl-{len(fake.received)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer.content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            data = json.dumps(payload).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakeLlm(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake
