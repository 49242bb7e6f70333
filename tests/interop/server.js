'use strict';
// node server.js [noproto]
// Listens on 127.0.0.1 (any free port, printed as "PORT n"), selects
// layercast.v7 (or, with noproto, no subprotocol at all), expects a HELLO,
// answers with a HELLO and closes with 1000. Exits 0 after one such
// exchange completes with 1000 in both directions.
const { WebSocketServer } = require('ws');
const { encodeHello, decodeHello } = require('./wire');

const noproto = process.argv[2] === 'noproto';
const fail = (msg) => { console.error('server.js: ' + msg); process.exit(1); };
setTimeout(() => fail('timeout'), 15000).unref();

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (noproto ? false : protocols.has('layercast.v7') ? 'layercast.v7' : false),
});
wss.on('listening', () => console.log('PORT ' + wss.address().port));
wss.on('connection', (ws, req) => {
  if (!noproto && ws.protocol !== 'layercast.v7') fail('no subprotocol from ' + req.headers['sec-websocket-protocol']);
  let gotHello = false;
  ws.on('message', (data, isBinary) => {
    if (!isBinary) fail('text message');
    try {
      decodeHello(data);
    } catch (e) {
      fail('HELLO: ' + e.message);
    }
    gotHello = true;
    ws.send(encodeHello({ peerId: 0x1122334455667788n, software: 'node-ws-server' }), { binary: true },
      () => ws.close(1000, 'bye'));
  });
  ws.on('close', (code) => {
    if (noproto) return;
    if (!gotHello) fail('closed before HELLO, code ' + code);
    if (code !== 1000) fail('close code ' + code);
    console.log('server.js: exchange done, closed 1000');
    process.exit(0);
  });
});
