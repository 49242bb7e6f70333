/*
 * wire: the peer messages of layercast, encoded and decoded. No I/O, no
 * allocation, no dependency but core.
 *
 * Messages travel in WebSocket binary messages, one or more back to back
 * in each: a sender may put the messages waiting on a link together, to
 * save frame headers (a small message, such as a DONE, costs as much again
 * in framing). The WebSocket subprotocol names the format's version:
 * layercast.v7 (WIRE_SUBPROTOCOL) for this page, so that peers of another
 * version are refused at the handshake (HTTP 400) rather than mid-stream.
 * A message is a 1-byte common header and a body; the body's fields give
 * its length (a BLOCK's runs to the end of its WebSocket message), and the
 * next message, if any, starts right after it. Every integer is unsigned
 * big-endian (network byte order) unless marked "signed" (two's
 * complement). A string is a u8 length followed by that many bytes, no
 * terminator; every string byte is printable ASCII 0x20..0x7E (a host
 * string also has no space 0x20). The decoder rejects anything that does
 * not follow this page exactly, so a valid message has one and only one
 * encoding (decode then encode gives the same bytes back).
 *
 * Common header (1 byte)
 *
 *   off size field
 *   0   1    type (enum wire_type, 1..12)
 *   the whole message (header and body) is at most WIRE_MAX_MSG bytes
 *   (71680 = 70 KiB)
 *
 * Versions (WIRE_VERSION = 7): 6 named relay list peers by 4-byte tags
 * and sent every SEGMENT descriptor whole (k in 2 bytes, B in 4, each
 * layer's picture format every time); 5 and before began every message with a
 * version byte, under subprotocol layercast.v1, sent the whole 32-bit
 * segment number in every message that names one, a BLOCK's layer and
 * flags in 2 bytes and its size B in 2 more, and an 8-byte PING nonce that
 * every PING had echoed; 5 packed messages back to back; 4 sent one message per
 * WebSocket message; 3 sent k, B and gen_len in each BLOCK in 10 bytes and
 * named relay list peers by their 8-byte ids; 2 had an 8-byte header that
 * also held the magic "LC" and the body length; 1 sent systematic blocks' k
 * coefficients in full.
 *
 * Bodies (offsets from the start of the body; "var" = variable)
 *
 * HELLO (1): the first message each side sends on a new link.
 *   0   2    proto      protocol feature level, 1..65535 (this code: 1)
 *   2   1    role       flags: 0x01 SOURCE, 0x02 PEER, 0x04 TRACKER;
 *                       at least one set, other bits 0
 *   3   8    peer_id    random, non-zero
 *   11  4    up_kbps    upload capacity, kbit/s (0 = unknown)
 *   15  4    down_kbps  download capacity, kbit/s (0 = unknown)
 *   19  2    port       advertised listen port (0 = does not listen)
 *   21  1+n  host       advertised listen host, n 0..253 (0 = "the address
 *                       you see me from"); printable ASCII, no space
 *   var 1+n  stream     stream id, n 0..64, printable ASCII
 *   var 1+n  software   software name/version, n 0..64, printable ASCII
 *   (24..405 bytes)
 *
 * PEERS (2): gossip of known peers.
 *   0   1    count      0..32 (WIRE_PEERS_MAX)
 *   then count entries:
 *       8    peer_id    non-zero
 *       2    port       1..65535
 *       1+n  host       n 1..253, printable ASCII, no space
 *   (1..8449 bytes)
 *
 * HAVE (3): what the sender holds, per segment and layer.
 *   0   1    count      segments listed, 0..64 (WIRE_HAVE_MAX)
 *   then count entries:
 *       4    segment
 *       1    nlayers    0..8 (WIRE_LAYERS_MAX)
 *       1    done       bitmap: bit l set = layer l decoded; bits >= nlayers 0
 *       2*nlayers rank  per layer l = 0..nlayers-1: rank held, 0..256;
 *                       a done layer has rank >= 1
 *   (1..1409 bytes)
 *
 * PULL (4): a request for coded blocks.
 *   0   2    segment    its low 16 bits (see "Segment numbers" below)
 *   2   1    layer      0..7
 *   3   1    flags      0x01 REPAIR: recoded blocks from any neighbour near
 *                       the deadline; clear: an AQCS pull signal to the
 *                       source. Other bits 0.
 *   4   2    count      blocks wanted, 1..256
 *   (6 bytes)
 *
 * BLOCK (5): one coded block of one generation (one layer of one segment).
 * Every block is on the critical path of the upload, so its header is
 * short: the generation's true length is in the SEGMENT descriptor alone
 * (k is here too, and B is the payload's length, so that a block can be
 * decoded, checked and relayed before its descriptor arrives).
 *   0   2    segment    its low 16 bits (see "Segment numbers" below)
 *   2   1    layer and flags: bits 0-2 the layer (0..7); bits 3-7 the
 *                       flags, shifted left by 3 (flags = byte >> 3):
 *                       0x01 FORWARD (AQCS: relay it to your neighbours),
 *                       0x02 SYSTEMATIC (coef is a unit vector: exactly one
 *                       byte is 1, the others 0), 0x04 DESTS (with
 *                       FORWARD only: relay it to the listed peers alone).
 *                       Other flag bits (byte bits 6-7) 0.
 *   3   1    k - 1      blocks in the generation, k = 1..256
 *   4   c    coef       SYSTEMATIC: c = 1, the index (0..k-1) of the 1;
 *                       else c = k, the coefficient vector over GF(2^8)
 *   DESTS only, d = 1 + 2n bytes (else d = 0):
 *   4+c  1   ndest      n, 1..64 (WIRE_DEST_MAX)
 *        2n  dest       peer tags: the low 16 bits of each listed peer's
 *                       id (wire_dest_tag), no two alike; a relay sends to
 *                       the neighbours whose tag is listed
 *   4+c+d B  payload    the coded block: the rest of the WebSocket
 *                       message, B = 1..65535 bytes (the block size)
 *   (4 + c + d + B bytes: 6..66057)
 * A BLOCK is therefore the last message of its WebSocket message (messages
 * may come before it there, none after it). Every block is relayed many
 * times over, and the 2 bytes of B were 0.3 % of the upload at n = 30.
 *
 * DONE (6): the sender has decoded the generation; stop sending it.
 *   0   2    segment    its low 16 bits (see "Segment numbers" below)
 *   2   1    layer      0..7
 *   (3 bytes)
 *
 * SUBSCRIBE (7): which layers the sender wants from this neighbour.
 *   0   1    level      highest layer wanted (layers 0..level), 0..7, or
 *                       0xFF (WIRE_LEVEL_NONE) for no media at all
 *   1   1    cap        highest layer the sender could ever use (display or
 *                       decoder limit), 0..7; level <= cap unless NONE
 *   2   1    flags      bit 0 (WIRE_SUB_SOURCE_LINK): the sender has a link
 *                       to the source, which gives it every segment
 *                       descriptor (neighbours need not relay them);
 *                       other bits zero
 *   (3 bytes)
 *
 * SEGMENT (8): the descriptor of a segment, sent by the source ahead of its
 * blocks and relayed with them. Every peer gets one per segment from the
 * source, so it is short: the layers' picture format, which seldom
 * changes, comes only when it differs from the last one sent on the link
 * (always in the first descriptor on a link).
 *   0   4    segment
 *   4   8    capture_us wall-clock capture time, microseconds since the
 *                       Unix epoch (signed)
 *   12  4    duration_us 1..60000000
 *   16  1    flags      0x01 KEYFRAME (the segment starts with a key frame),
 *                       0x02 FORMAT (each layer's format follows its hash);
 *                       other bits 0
 *   17  1    nlayers    1..8
 *   18  f*nlayers, per layer l = 0..nlayers-1 (f = 15, or 23 with FORMAT):
 *       4    size       bytes of the layer (its generation), 0..k*B
 *       1    k - 1      blocks in the generation, k = 1..256
 *       2    B          the block size, 1..65535
 *       8    hash       FNV-1a 64 of the layer's bytes (wire_hash64)
 *       FORMAT only (without it, the receiver takes the link's last ones):
 *       2    width      pixels, 1..65535
 *       2    height     pixels, 1..65535
 *       4    fps_milli  frames per second * 1000, 1..1000000
 *   (33..202 bytes)
 *
 * PING (9) / PONG (10): keepalive and application-level RTT.
 *   0   4    nonce      PING: any value (e.g. the sender's clock, in
 *                       microseconds, modulo 2^32); PONG: the PING's
 *   4   1    flags      PING: 0x01 ECHO, answer with a PONG (the sender
 *                       wants an RTT sample, or has not heard from the
 *                       receiver lately); a PING without it only keeps
 *                       the link alive, and gets no answer. PONG: 0.
 *                       Other bits 0.
 *   (5 bytes)
 *
 * BYE (11): the sender is closing the link.
 *   0   2    code       enum wire_bye_code (unknown codes are accepted, so that
 *                       a newer peer may add reasons)
 *   2   1+n  reason     n 0..123 (fits a WebSocket close reason),
 *                       printable ASCII
 *   (3..126 bytes)
 *
 * WANT (12): plain chunks wanted by index (the --no-coding mode, where
 * blocks are uncoded chunks and a missing one is a specific one).
 *   0   2    segment    its low 16 bits (see "Segment numbers" below)
 *   2   1    layer      0..7
 *   3   2    k          chunks in the generation, 1..256
 *   5   ceil(k/8) bitmap: bit i (byte i/8, bit i%8, least significant
 *                       first) set = chunk i wanted; bits >= k are 0 and
 *                       at least one bit is set
 *   (6..37 bytes)
 *
 * Segment numbers: SEGMENT and HAVE carry the whole 32-bit number; BLOCK,
 * DONE, PULL and WANT, which are many and name a live segment, only its
 * low 16 bits. The receiver takes the number with those bits nearest the
 * newest segment it knows (wire_seg_near): the live segments are a few
 * seconds apart, far inside the 65536 either way. wire_encode() writes the
 * low 16 bits of whatever number it is given; wire_decode() gives them
 * (0..65535).
 *
 * Errors of wire_decode() and wire_decode_next(), and the WebSocket close
 * code for each (wire_close_code()):
 *   LC_ETRUNC    input empty (no type byte), a field runs past the
 *                end of the body, or a BLOCK has no payload        -> 1002
 *   LC_EPROTO    body longer than its fields (trailing bytes; only
 *                wire_decode, which takes exactly one message)     -> 1002
 *   LC_ETYPE     unknown type                                      -> 1002
 *   LC_ERANGE    a field out of its range above (k = 0, B = 0 or
 *                over 65535, size > k*B, layer >= 8, counts above limits, bad
 *                string bytes, reserved flag bits, ...)            -> 1007
 *   LC_E2BIG     input larger than WIRE_MAX_MSG                    -> 1009
 * The checks run in this order: the header (length, type, size);
 * the body's structure field by field (LC_ETRUNC, or LC_ERANGE for a count,
 * string length, k, B or ndest over its bound, or a bad string byte); bytes
 * left over (LC_EPROTO); then the value rules (LC_ERANGE), which are the
 * ones wire_encode() enforces, so that whatever decodes re-encodes.
 */
#ifndef LC_WIRE_H
#define LC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define WIRE_VERSION 7
#define WIRE_SUBPROTOCOL "layercast.v7" /* the WebSocket subprotocol: the version */
#define WIRE_HDR_LEN 1
#define WIRE_BLOCK_HEAD 4 /* BLOCK body bytes before the coefficients */
#define WIRE_MAX_MSG (70 * 1024)
#define WIRE_MAX_BODY (WIRE_MAX_MSG - WIRE_HDR_LEN)

#define WIRE_LAYERS_MAX 8
#define WIRE_K_MAX 256
#define WIRE_B_MAX 65535
#define WIRE_HOST_MAX 253
#define WIRE_STREAM_MAX 64
#define WIRE_SOFTWARE_MAX 64
#define WIRE_REASON_MAX 123
#define WIRE_PEERS_MAX 32
#define WIRE_HAVE_MAX 64
#define WIRE_DEST_MAX 64
#define WIRE_DURATION_MAX 60000000u
#define WIRE_FPS_MILLI_MAX 1000000u
#define WIRE_LEVEL_NONE 0xFF
#define WIRE_PROTO 1 /* HELLO.proto sent by this code */

enum wire_type {
	WIRE_HELLO = 1,
	WIRE_PEERS = 2,
	WIRE_HAVE = 3,
	WIRE_PULL = 4,
	WIRE_BLOCK = 5,
	WIRE_DONE = 6,
	WIRE_SUBSCRIBE = 7,
	WIRE_SEGMENT = 8,
	WIRE_PING = 9,
	WIRE_PONG = 10,
	WIRE_BYE = 11,
	WIRE_WANT = 12,
};
#define WIRE_TYPE_MAX 12

/* HELLO.role */
enum { WIRE_ROLE_SOURCE = 0x01, WIRE_ROLE_PEER = 0x02, WIRE_ROLE_TRACKER = 0x04 };
/* PULL.flags */
enum { WIRE_PULL_REPAIR = 0x01 };
/* BLOCK.flags */
enum { WIRE_BLOCK_FORWARD = 0x01, WIRE_BLOCK_SYSTEMATIC = 0x02, WIRE_BLOCK_DESTS = 0x04 };
/* SEGMENT.flags */
enum { WIRE_SEG_KEYFRAME = 0x01, WIRE_SEG_FORMAT = 0x02 };
/* A SEGMENT's bytes per layer, without and with FORMAT. */
#define WIRE_LAYER_LEN 15
#define WIRE_LAYER_FMT_LEN 23

/* BYE.code */
enum wire_bye_code {
	WIRE_BYE_LEAVING = 0,    /* normal departure */
	WIRE_BYE_SHUTDOWN = 1,   /* the program is stopping */
	WIRE_BYE_FULL = 2,       /* no room for another neighbour */
	WIRE_BYE_DUPLICATE = 3,  /* a link to this peer already exists */
	WIRE_BYE_SELF = 4,       /* dialled itself */
	WIRE_BYE_STREAM = 5,     /* a different stream id */
	WIRE_BYE_VERSION = 6,    /* incompatible protocol level */
	WIRE_BYE_PROTOCOL = 7,   /* the peer broke the protocol */
	WIRE_BYE_TIMEOUT = 8,    /* the peer went silent */
	WIRE_BYE_POLICY = 9,     /* refused by local policy (e.g. banned) */
};

/* Strings are held NUL-terminated in fixed arrays. */
struct wire_hello {
	uint16_t proto;
	uint8_t role;
	uint64_t peer_id;
	uint32_t up_kbps;
	uint32_t down_kbps;
	uint16_t port;
	char host[WIRE_HOST_MAX + 1];
	char stream[WIRE_STREAM_MAX + 1];
	char software[WIRE_SOFTWARE_MAX + 1];
};

struct wire_peer {
	uint64_t peer_id;
	uint16_t port;
	char host[WIRE_HOST_MAX + 1];
};

struct wire_peers {
	unsigned count;
	struct wire_peer peer[WIRE_PEERS_MAX];
};

struct wire_have_seg {
	uint32_t segment;
	uint8_t nlayers;
	uint8_t done;                      /* bit l: layer l decoded */
	uint16_t rank[WIRE_LAYERS_MAX];
};

struct wire_have {
	unsigned count;
	struct wire_have_seg seg[WIRE_HAVE_MAX];
};

struct wire_pull {
	uint32_t segment;
	uint8_t layer;
	uint8_t flags;
	uint16_t count;
};

/* The segment number whose low 16 bits are low16, nearest ref (see
 * "Segment numbers" above; never below 0). */
static inline uint32_t wire_seg_near(uint32_t ref, uint32_t low16)
{
	int32_t d = (int16_t)(uint16_t)(low16 - ref);
	uint32_t s = ref + (uint32_t)d;
	return d < 0 && s > ref ? s + 65536u : s;
}

/* A peer's tag in a BLOCK's relay list: the low 16 bits of its id. A
 * neighbour of the relay alike in tag to a listed one gets the copy too
 * (for each listed tag, odds about n / 2^16: one extra copy). */
static inline uint16_t wire_dest_tag(uint64_t peer_id) { return (uint16_t)peer_id; }

/* coef and payload point into the decoded buffer (or, to encode, into the
 * caller's memory); they are not copied by wire_decode. */
struct wire_block {
	uint32_t segment;
	uint8_t layer;
	uint8_t flags;
	uint16_t k;
	uint32_t block_size;
	const uint8_t *coef;     /* k bytes */
	const uint8_t *payload;  /* block_size bytes */
	uint8_t ndest;           /* DESTS: the peers to relay to (else 0) */
	uint16_t dest[WIRE_DEST_MAX]; /* their tags (wire_dest_tag) */
};

struct wire_done {
	uint32_t segment;
	uint8_t layer;
};

#define WIRE_SUB_SOURCE_LINK 0x01

struct wire_subscribe {
	uint8_t level;
	uint8_t cap;
	uint8_t flags;
};

struct wire_layer_desc {
	uint32_t size;
	uint16_t k;
	uint32_t block_size;
	uint16_t width;     /* width, height, fps_milli: with FORMAT only, */
	uint16_t height;    /* else 0 */
	uint32_t fps_milli;
	uint64_t hash;
};

struct wire_segment {
	uint32_t segment;
	int64_t capture_us;
	uint32_t duration_us;
	uint8_t flags;
	uint8_t nlayers;
	struct wire_layer_desc layer[WIRE_LAYERS_MAX];
};

enum { WIRE_PING_ECHO = 0x01 };

struct wire_ping {
	uint32_t nonce;
	uint8_t flags;           /* PING: WIRE_PING_ECHO or 0; PONG: 0 */
};

struct wire_bye {
	uint16_t code;
	char reason[WIRE_REASON_MAX + 1];
};

struct wire_want {
	uint32_t segment;
	uint8_t layer;
	uint16_t k;
	uint8_t bitmap[WIRE_K_MAX / 8]; /* bytes past ceil(k/8) are ignored */
};

struct wire_msg {
	enum wire_type type;
	union {
		struct wire_hello hello;
		struct wire_peers peers;
		struct wire_have have;
		struct wire_pull pull;
		struct wire_block block;
		struct wire_done done;
		struct wire_subscribe subscribe;
		struct wire_segment segment;
		struct wire_ping ping; /* PING and PONG */
		struct wire_bye bye;
		struct wire_want want;
	} u;
};

/*
 * Decode one whole message (buf, len) into *m. Returns 0 or a negative
 * LC_E* code (see the table above); *m is undefined on error. For BLOCK,
 * m->u.block.coef and .payload point into buf.
 */
int wire_decode(const uint8_t *buf, size_t len, struct wire_msg *m);

/*
 * Decode the first message of a WebSocket message's bytes (buf, len): as
 * wire_decode(), but bytes after the message's fields are the next message,
 * not an error; *used is set to the message's length (1..len; a BLOCK
 * takes all of len). To read them all: while (len) { decode_next;
 * buf += used; len -= used; }.
 */
int wire_decode_next(const uint8_t *buf, size_t len, struct wire_msg *m, size_t *used);

/*
 * Check only the common header of the whole message (buf, len): type and
 * size. On success returns 0 and sets *type. Errors: LC_ETRUNC (len 0),
 * LC_ETYPE, LC_E2BIG.
 */
int wire_peek(const uint8_t *buf, size_t len, enum wire_type *type);

/*
 * The encoded size of *m in bytes (> 0), or LC_ERANGE / LC_ETYPE if *m
 * breaks a rule of the table above (the same rules the decoder checks).
 */
int wire_encoded_size(const struct wire_msg *m);

/*
 * Encode *m into buf (capacity cap). Returns the number of bytes written
 * (> 0), LC_ERANGE / LC_ETYPE if *m is invalid, or LC_EFULL if cap is too
 * small (nothing useful written then).
 */
int wire_encode(const struct wire_msg *m, uint8_t *buf, size_t cap);

/*
 * Zero-copy BLOCK: encode everything of the BLOCK *b up to its payload (the
 * header, the fields, the coefficients and any relay list: 5 + 1 bytes if
 * systematic, else 5 + k; plus 1 + 4 * ndest with DESTS) into buf, so that
 * the caller can produce the block_size payload bytes right after it (e.g.
 * recode into the send buffer). b->payload is not read and may be NULL.
 * Returns the head length, or LC_ERANGE / LC_EINVAL / LC_EFULL as
 * wire_encode(); cap must hold the whole message (head + block_size).
 */
int wire_encode_block_head(const struct wire_block *b, uint8_t *buf, size_t cap);

/*
 * The WebSocket close code for a wire_decode() error: 1002 (protocol error)
 * for LC_ETRUNC, LC_EPROTO, LC_EVERSION, LC_ETYPE; 1007 (invalid payload
 * data) for LC_ERANGE; 1009 (message too big) for LC_E2BIG; 1000 for 0;
 * 1011 (internal error) for anything else.
 */
int wire_close_code(int err);

/* "HELLO", "PEERS", ...; "?" for an unknown type. */
const char *wire_type_name(int type);
/* The same in lower case ("hello"), into out (WIRE_TYPE_KEY_MAX bytes):
 * the key in /stats.json's sent_by_type, the label in /metrics. */
#define WIRE_TYPE_KEY_MAX 16
void wire_type_key(int type, char *out);

/* FNV-1a 64-bit hash, the SEGMENT layer hash. */
uint64_t wire_hash64(const void *data, size_t len);

#endif
