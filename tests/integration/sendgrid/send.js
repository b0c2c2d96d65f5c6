// tests/integration/sendgrid/send.js - SendGrid's official Node client
// (@sendgrid/mail, unchanged) sending one request to Petrel: the base URL is
// set on @sendgrid/client, as SendGrid documents for its regional and proxy
// endpoints, and that client is handed to @sendgrid/mail.
// stdin: {"baseUrl", "apiKey", "method": "send" | "sendMultiple", "msg"}
// stdout: {"status", "headers", "body"} or {"error": code, "body"}
'use strict';

const client = require('@sendgrid/client');
const mail = require('@sendgrid/mail');

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const req = JSON.parse(input);
  client.setApiKey(req.apiKey);
  client.setDefaultRequest('baseUrl', req.baseUrl);
  mail.setClient(client);
  try {
    const [response] = await mail[req.method](req.msg);
    process.stdout.write(JSON.stringify({
      status: response.statusCode, headers: response.headers, body: response.body,
    }));
  } catch (err) {
    process.stdout.write(JSON.stringify({
      error: err.code, body: err.response ? err.response.body : String(err),
    }));
  }
});
