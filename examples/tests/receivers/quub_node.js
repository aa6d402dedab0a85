// Quub's Node receiver as the platform publishes it (node:http), for examples/tests/platforms.rs.
//
// It parses `X-Quub-Signature: t=<ts>,v1=<hex>` (one v1 per valid secret during a
// rotation), checks the timestamp within 5 minutes, and verifies the hex HMAC-SHA256
// of `${t}.${JSON.stringify(payload)}` where payload is JSON.parse of the body, keyed
// by the whole secret string. Around it, what a test needs: the secret from
// WEBHOOK_SECRET, a port chosen by the system and printed first (`listening PORT`),
// and one line per request: `ok TYPE JSON` or `bad WHY`.

const crypto = require('node:crypto');
const http = require('node:http');

const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET;
const TOLERANCE_SECONDS = 5 * 60;

function report(...parts) {
  console.log(parts.join(' '));
}

function verifyQuubSignature(payload, header, secret) {
  const parts = (header || '').split(',');
  const timestamp = (parts.find((p) => p.startsWith('t=')) || '').slice(2);
  const signatures = parts.filter((p) => p.startsWith('v1=')).map((p) => p.slice(3));
  const age = Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp));
  if (!timestamp || !(age <= TOLERANCE_SECONDS)) {
    return `timestamp ${timestamp} outside 5 minutes`;
  }
  const expected = crypto
    .createHmac('sha256', secret)
    .update(`${timestamp}.${JSON.stringify(payload)}`)
    .digest('hex');
  const matches = signatures.some(
    (sig) =>
      sig.length === expected.length &&
      crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected)),
  );
  return matches ? null : 'signature mismatch';
}

function answer(res, status, ...line) {
  report(...line);
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(status === 200 ? { received: true } : { error: 'rejected' }));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let payload;
    try {
      payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      return answer(res, 400, 'bad', 'body does not parse:', err.message);
    }
    const why = verifyQuubSignature(payload, req.headers['x-quub-signature'], WEBHOOK_SECRET);
    if (why) {
      return answer(res, 401, 'bad', why);
    }
    const seen = {
      keys: Object.keys(payload),
      eventId: payload.eventId,
      timestamp: payload.timestamp,
      orgId: payload.orgId,
      headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0),
      data: JSON.stringify(payload.data),
    };
    answer(res, 200, 'ok', payload.eventType, JSON.stringify(seen));
  });
});

server.listen(0, '127.0.0.1', () => {
  report('listening', server.address().port);
});
