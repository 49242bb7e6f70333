'use strict';
// The two peer messages the interop tests exchange, encoded by hand from the
// byte format in src/wire/wire.h (an independent implementation of it).

const MAGIC = Buffer.from('LC');
const VERSION = 2;
const HELLO = 1;

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
  const hdr = Buffer.alloc(8);
  MAGIC.copy(hdr, 0);
  hdr.writeUInt8(VERSION, 2);
  hdr.writeUInt8(HELLO, 3);
  hdr.writeUInt32BE(body.length, 4);
  return Buffer.concat([hdr, body]);
}

// Returns { peerId, stream, software } or throws.
function decodeHello(buf) {
  if (buf.length < 8 || buf[0] !== 0x4c || buf[1] !== 0x43) throw new Error('bad magic');
  if (buf[2] !== VERSION) throw new Error('bad version');
  if (buf[3] !== HELLO) throw new Error('not a HELLO: type ' + buf[3]);
  const len = buf.readUInt32BE(4);
  if (buf.length !== 8 + len) throw new Error('length mismatch');
  const b = buf.subarray(8);
  let off = 21;
  const strings = [];
  for (let i = 0; i < 3; i++) {
    if (off >= b.length) throw new Error('truncated');
    const n = b[off];
    if (off + 1 + n > b.length) throw new Error('truncated string');
    strings.push(b.subarray(off + 1, off + 1 + n).toString('ascii'));
    off += 1 + n;
  }
  if (off !== b.length) throw new Error('trailing bytes');
  const peerId = b.readBigUInt64BE(3);
  if (peerId === 0n) throw new Error('zero peer id');
  return { peerId, host: strings[0], stream: strings[1], software: strings[2] };
}

module.exports = { encodeHello, decodeHello };
