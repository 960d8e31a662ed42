#!/usr/bin/env python3
"""A Standard Webhooks receiver built on the official PyPI `standardwebhooks` library, in front
of a test's own responder (for tests only).

usage: WEBHOOK_SECRET=... webhook_verify.py FORWARD_BASE_URL

Listens on 127.0.0.1 (an ephemeral port, printed as the first line of stdout) and verifies every
POST with `standardwebhooks.Webhook(secret).verify(body, headers)`, exactly as an app developer's
receiver would. A `whsec_` secret is handed to the library as the string (it base64-decodes the
key); any other secret as its bytes, the way a receiver configured with a raw key uses it.

* Verified: the request (path, headers, body) is forwarded to FORWARD_BASE_URL with the header
  `x-standardwebhooks-verified: 1`, and the responder's answer is passed back unchanged.
* Refused: the responder is told (header `x-standardwebhooks-refused: <the library's message>`,
  so the test can see what was refused) and the sender gets 401 {"error": <that message>}. Other
  methods (a GET from a server that should fetch nothing) are recorded and refused the same way.
SIGTERM (kill PID) ends the process.
"""
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks
from standardwebhooks.webhooks import WebhookVerificationError

FORWARD = sys.argv[1].rstrip("/")
SECRET = os.environ["WEBHOOK_SECRET"]
if SECRET.startswith("whsec_"):
    WEBHOOK = standardwebhooks.Webhook(SECRET)
else:
    WEBHOOK = standardwebhooks.Webhook(SECRET.encode())
PASSED = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "user-agent")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (its timeout); nothing to answer

    def forward(self, body, extra):
        headers = {k: v for k, v in self.headers.items() if k.lower() in PASSED}
        headers.update(extra)
        req = urllib.request.Request(FORWARD + self.path, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "application/json")

    def refuse(self, body, message):
        self.forward(body, {"x-standardwebhooks-refused": message})
        self.answer(401, json.dumps({"error": message}).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            WEBHOOK.verify(body, dict(self.headers.items()), json_parse=False)
        except (WebhookVerificationError, ValueError) as e:
            self.refuse(body, str(e) or type(e).__name__)
            return
        status, reply, content_type = self.forward(body, {"x-standardwebhooks-verified": "1"})
        self.answer(status, reply, content_type)

    def do_other(self):
        # Not a webhook delivery, but still recorded: a test may assert that nothing was fetched.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        self.refuse(body, f"{self.command} is not a webhook delivery")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_other


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
print(server.server_address[1], flush=True)
server.serve_forever()
