// PerpsTracker's receiver as the platform publishes it (Express), for examples/tests/platforms.rs.
//
// express.json() parses the body; the signature is the hex HMAC-SHA256 of
// JSON.stringify(req.body), keyed by the whole whsec_ secret string, compared with
// X-Webhook-Signature; X-Webhook-ID, X-Event-Type and X-Delivery-ID are read. Around
// it, what a test needs: the secret from WEBHOOK_SECRET, a port chosen by the system
// and printed first (`listening PORT`), and one line per request: `ok TYPE JSON` or
// `bad WHY`.

const crypto = require('crypto');
const express = require('express');

const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET;

function report(...parts) {
  console.log(parts.join(' '));
}

function verifyWebhookSignature(payload, signature, secret) {
  const expected = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(payload))
    .digest('hex');
  return (
    typeof signature === 'string' &&
    signature.length === expected.length &&
    crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

const app = express();
app.use(express.json());

app.post('/webhooks/perps', (req, res) => {
  const signature = req.headers['x-webhook-signature'];
  const webhookId = req.headers['x-webhook-id'];
  const eventType = req.headers['x-event-type'];
  const deliveryId = req.headers['x-delivery-id'];

  if (!verifyWebhookSignature(req.body, signature, WEBHOOK_SECRET)) {
    report('bad', 'signature mismatch');
    return res.status(401).json({ error: 'Invalid signature' });
  }

  const { id, type, created, data } = req.body;
  const seen = {
    keys: Object.keys(req.body),
    id,
    created,
    webhookId,
    eventType,
    deliveryId,
    headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0),
    data: JSON.stringify(data),
  };
  report('ok', type, JSON.stringify(seen));
  res.status(200).json({ received: true });
});

app.use((err, req, res, next) => {
  report('bad', 'body does not parse:', err.message);
  res.status(400).json({ error: 'bad request' });
});

const server = app.listen(0, '127.0.0.1', () => {
  report('listening', server.address().port);
});
