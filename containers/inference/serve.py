"""Placeholder SageMaker inference server: answers /ping so an endpoint can come up.

The real server (dynamic batching, JSON/CSV/JSONL, stdin mode) replaces this file.
"""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()

    def do_POST(self) -> None:
        self.send_response(501)
        self.end_headers()


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()  # noqa: S104 - container port
