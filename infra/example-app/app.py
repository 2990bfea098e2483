"""A tiny web app for Gantry's example pipeline to test and package."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer


def greeting(name=None):
    """The text the app serves: a greeting for `name`, or for the world."""
    name = (name or "").strip()
    return f"Hello, {name or 'world'}!"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (greeting(os.environ.get("GREETING_NAME")) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    HTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
