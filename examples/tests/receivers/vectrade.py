"""VecTrade's receiver as the platform publishes it (Python standard library), for examples/tests/platforms.rs.

It checks X-VQ-Timestamp (Unix seconds) within 5 minutes, verifies X-VQ-Signature,
the hex HMAC-SHA256 of f"{timestamp}.{raw_body}" keyed by the whole whsec_ secret
string, and deduplicates on X-VQ-Webhook-Id. Around it, what a test needs: the secret
from WEBHOOK_SECRET, a port chosen by the system and printed first (`listening
PORT`), and one line per request: `ok TYPE JSON`, `duplicate WEBHOOK_ID` or `bad WHY`.
"""

import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]
TOLERANCE_SECONDS = 5 * 60

processed_webhook_ids = set()


def report(*parts):
    print(*parts, flush=True)


def verify_signature(raw_body, timestamp, signature):
    signed_payload = f"{timestamp}.{raw_body}"
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), signed_payload.encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)


class WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw_body = self.rfile.read(length).decode("utf-8")
        signature = self.headers.get("X-VQ-Signature", "")
        timestamp = self.headers.get("X-VQ-Timestamp", "")
        webhook_id = self.headers.get("X-VQ-Webhook-Id", "")

        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return self.answer(400, "bad", f"timestamp {timestamp!r} outside 5 minutes")
        if not verify_signature(raw_body, timestamp, signature):
            return self.answer(401, "bad", "signature mismatch")
        if webhook_id in processed_webhook_ids:
            return self.answer(200, "duplicate", webhook_id)
        try:
            event = json.loads(raw_body)
        except ValueError as error:
            return self.answer(400, "bad", f"body does not parse: {error}")
        processed_webhook_ids.add(webhook_id)

        seen = {
            "keys": list(event),
            "id": event["id"],
            "created_at": event["created_at"],
            "webhook_id": webhook_id,
            "timestamp": timestamp,
            "header_names": list(self.headers.keys()),
            "raw": raw_body,
            "data": json.dumps(event["data"], separators=(",", ":")),
        }
        self.answer(200, "ok", event["type"], json.dumps(seen, separators=(",", ":")))

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
