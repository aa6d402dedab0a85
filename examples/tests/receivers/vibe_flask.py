"""Vibe Trading's receiver as the platform publishes it (Flask), for examples/tests/platforms.rs.

The route is their snippet: the hex HMAC-SHA256 of the raw body, keyed by the
secret the customer chose, compared in constant time with X-Webhook-Signature, then
data['event'] and data['data'] from request.get_json(). Around it, what a test needs:
the secret from WEBHOOK_SECRET, a port chosen by the system and printed first
(`listening PORT`), and one line per request: `ok TYPE JSON` or `bad WHY`.
"""

import hashlib
import hmac
import json
import os

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]

app = Flask(__name__)


def report(*parts):
    print(*parts, flush=True)


@app.route("/webhooks/vibe", methods=["POST"])
def vibe_webhook():
    signature = request.headers.get("X-Webhook-Signature", "")
    expected = hmac.new(WEBHOOK_SECRET.encode(), request.get_data(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        report("bad", "signature mismatch")
        return jsonify({"error": "invalid signature"}), 401

    data = request.get_json()
    event = data["event"]
    payload = data["data"]

    seen = {
        "keys": list(data),
        "timestamp": data["timestamp"],
        "raw": request.get_data(as_text=True),
        "data": json.dumps(payload, separators=(",", ":")),
    }
    report("ok", event, json.dumps(seen, separators=(",", ":")))
    return jsonify({"received": True}), 200


@app.errorhandler(400)
@app.errorhandler(415)
def unreadable(error):
    report("bad", "body does not parse:", error.name)
    return jsonify({"error": "bad request"}), error.code


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app)
    report("listening", server.server_port)
    server.serve_forever()
