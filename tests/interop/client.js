'use strict';
// node client.js ws://127.0.0.1:PORT/swarm
// Negotiates layercast.v7, sends a HELLO, expects a HELLO back, closes with
// 1000 and expects the close to complete with 1000. Exit 0 on success.
const WebSocket = require('ws');
const { encodeHello, decodeHello } = require('./wire');

const url = process.argv[2];
const fail = (msg) => { console.error('client.js: ' + msg); process.exit(1); };
setTimeout(() => fail('timeout'), 8000).unref();

const ws = new WebSocket(url, 'layercast.v7', { perMessageDeflate: false });
let gotHello = false;
ws.on('open', () => {
  if (ws.protocol !== 'layercast.v7') fail('subprotocol not negotiated: ' + ws.protocol);
  ws.send(encodeHello({ peerId: 0x0102030405060708n }), { binary: true });
});
ws.on('message', (data, isBinary) => {
  if (!isBinary) fail('text message');
  try {
    const h = decodeHello(data);
    console.log('client.js: HELLO from peer ' + h.peerId.toString(16) + ' (' + h.software + ')');
  } catch (e) {
    fail('reply: ' + e.message);
  }
  gotHello = true;
  ws.close(1000, 'done');
});
ws.on('close', (code) => {
  if (!gotHello) fail('closed before the reply, code ' + code);
  if (code !== 1000) fail('close code ' + code);
  console.log('client.js: closed 1000');
  process.exit(0);
});
ws.on('error', (e) => fail(e.message));
