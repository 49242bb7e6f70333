'use strict';
// The two peer messages the interop tests exchange, encoded by hand from the
// byte format in src/wire/wire.h (an independent implementation of it).

// The format's version is the WebSocket subprotocol's (layercast.v7);
// a message is a 1-byte type and its body.
const HELLO = 1;
const TYPE_MAX = 12;

function str(s) {
  const b = Buffer.from(s, 'ascii');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

// HELLO: proto u16, role u8, peer_id u64, up_kbps u32, down_kbps u32,
// port u16, host str, stream str, software str.
function encodeHello({ peerId, port = 0, host = '', stream = 'test', software = 'node-ws-interop' }) {
  const fixed = Buffer.alloc(21);
  fixed.writeUInt16BE(1, 0);        // proto
  fixed.writeUInt8(0x02, 2);        // role: PEER
  fixed.writeBigUInt64BE(peerId, 3);
  fixed.writeUInt32BE(1000, 11);    // up_kbps
  fixed.writeUInt32BE(2000, 15);    // down_kbps
  fixed.writeUInt16BE(port, 19);
  const body = Buffer.concat([fixed, str(host), str(stream), str(software)]);
  return Buffer.concat([Buffer.from([HELLO]), body]);
}

// Returns { peerId, stream, software } or throws.
function decodeHello(buf) {
  // The first message of the WebSocket message: a 1-byte type, then the
  // body, whose fields give its length; other messages may follow it.
  if (buf.length < 1) throw new Error('truncated header');
  if (buf[0] !== HELLO) throw new Error('not a HELLO: type ' + buf[0]);
  const b = buf.subarray(1);
  if (b.length < 21) throw new Error('truncated');
  let off = 21;
  const strings = [];
  for (let i = 0; i < 3; i++) {
    if (off >= b.length) throw new Error('truncated');
    const n = b[off];
    if (off + 1 + n > b.length) throw new Error('truncated string');
    strings.push(b.subarray(off + 1, off + 1 + n).toString('ascii'));
    off += 1 + n;
  }
  if (off !== b.length && (b[off] < 1 || b[off] > TYPE_MAX))
    throw new Error('bytes after the HELLO are not a message');
  const peerId = b.readBigUInt64BE(3);
  if (peerId === 0n) throw new Error('zero peer id');
  return { peerId, host: strings[0], stream: strings[1], software: strings[2] };
}

module.exports = { encodeHello, decodeHello };
