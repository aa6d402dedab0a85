"""Quub's Python receiver as the platform publishes it (standard library), for examples/tests/platforms.rs.

It parses `X-Quub-Signature: t=<ts>,v1=<hex>` (one v1 per valid secret during a
rotation), checks the timestamp within 5 minutes, and verifies the hex HMAC-SHA256 of
f"{t}.{json.dumps(payload, separators=(',', ':'))}" where payload is json.loads of
the body, keyed by the whole secret string. Around it, what a test needs: the secret
from WEBHOOK_SECRET, a port chosen by the system and printed first (`listening
PORT`), and one line per request: `ok TYPE JSON` or `bad WHY`.
"""

import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]
TOLERANCE_SECONDS = 5 * 60


def report(*parts):
    print(*parts, flush=True)


def verify_quub_signature(payload, header, secret):
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamp = next((value for key, value in parts if key == "t"), "")
    signatures = [value for key, value in parts if key == "v1"]
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return f"timestamp {timestamp!r} outside 5 minutes"
    signed_payload = f"{timestamp}.{json.dumps(payload, separators=(',', ':'))}"
    expected = hmac.new(secret.encode(), signed_payload.encode(), hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, signature) for signature in signatures):
        return None
    return "signature mismatch"


class WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError as error:
            return self.answer(400, "bad", f"body does not parse: {error}")
        why = verify_quub_signature(
            payload, self.headers.get("X-Quub-Signature", ""), WEBHOOK_SECRET
        )
        if why:
            return self.answer(401, "bad", why)
        seen = {
            "keys": list(payload),
            "eventId": payload["eventId"],
            "timestamp": payload["timestamp"],
            "orgId": payload["orgId"],
            "header_names": list(self.headers.keys()),
            "data": json.dumps(payload["data"], separators=(",", ":")),
        }
        self.answer(200, "ok", payload["eventType"], json.dumps(seen, separators=(",", ":")))

    def answer(self, status, *line):
        report(*line)
        body = b'{"received":true}' if status == 200 else b'{"error":"rejected"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", 0), WebhookHandler)
    report("listening", server.server_address[1])
    server.serve_forever()
