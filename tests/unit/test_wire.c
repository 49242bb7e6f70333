#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "wire/wire.h"
#include "wire_samples.h"

static uint8_t buf[WIRE_MAX_MSG + 16];
static uint8_t buf2[WIRE_MAX_MSG + 16];
static uint8_t unit[WIRE_K_MAX];
static struct wire_msg msg, msg2;

static void setup(void)
{
	ws_init_data();
}

/* Field-by-field equality of two messages (strings and BLOCK bytes by
 * content, list entries only up to their counts). */
static bool msg_eq(const struct wire_msg *a, const struct wire_msg *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case WIRE_HELLO: {
		const struct wire_hello *x = &a->u.hello, *y = &b->u.hello;
		return x->proto == y->proto && x->role == y->role && x->peer_id == y->peer_id &&
		       x->up_kbps == y->up_kbps && x->down_kbps == y->down_kbps &&
		       x->port == y->port && !strcmp(x->host, y->host) &&
		       !strcmp(x->stream, y->stream) && !strcmp(x->software, y->software);
	}
	case WIRE_PEERS:
		if (a->u.peers.count != b->u.peers.count)
			return false;
		for (unsigned i = 0; i < a->u.peers.count; i++) {
			const struct wire_peer *x = &a->u.peers.peer[i], *y = &b->u.peers.peer[i];
			if (x->peer_id != y->peer_id || x->port != y->port || strcmp(x->host, y->host))
				return false;
		}
		return true;
	case WIRE_HAVE:
		if (a->u.have.count != b->u.have.count)
			return false;
		for (unsigned i = 0; i < a->u.have.count; i++) {
			const struct wire_have_seg *x = &a->u.have.seg[i], *y = &b->u.have.seg[i];
			if (x->segment != y->segment || x->nlayers != y->nlayers || x->done != y->done)
				return false;
			for (unsigned l = 0; l < x->nlayers; l++)
				if (x->rank[l] != y->rank[l])
					return false;
		}
		return true;
	case WIRE_PULL:
		return a->u.pull.segment == b->u.pull.segment && a->u.pull.layer == b->u.pull.layer &&
		       a->u.pull.flags == b->u.pull.flags && a->u.pull.count == b->u.pull.count;
	case WIRE_BLOCK: {
		const struct wire_block *x = &a->u.block, *y = &b->u.block;
		return x->segment == y->segment && x->layer == y->layer && x->flags == y->flags &&
		       x->k == y->k && x->block_size == y->block_size &&
		       !memcmp(x->coef, y->coef, x->k) &&
		       !memcmp(x->payload, y->payload, x->block_size) && x->ndest == y->ndest &&
		       !memcmp(x->dest, y->dest, x->ndest * sizeof x->dest[0]);
	}
	case WIRE_DONE:
		return a->u.done.segment == b->u.done.segment && a->u.done.layer == b->u.done.layer;
	case WIRE_WANT:
		return a->u.want.segment == b->u.want.segment && a->u.want.layer == b->u.want.layer &&
		       a->u.want.k == b->u.want.k &&
		       !memcmp(a->u.want.bitmap, b->u.want.bitmap, ((size_t)a->u.want.k + 7) / 8);
	case WIRE_SUBSCRIBE:
		return a->u.subscribe.level == b->u.subscribe.level &&
		       a->u.subscribe.cap == b->u.subscribe.cap &&
		       a->u.subscribe.flags == b->u.subscribe.flags;
	case WIRE_SEGMENT: {
		const struct wire_segment *x = &a->u.segment, *y = &b->u.segment;
		if (x->segment != y->segment || x->capture_us != y->capture_us ||
		    x->duration_us != y->duration_us || x->flags != y->flags ||
		    x->nlayers != y->nlayers)
			return false;
		for (unsigned l = 0; l < x->nlayers; l++) {
			const struct wire_layer_desc *c = &x->layer[l], *d = &y->layer[l];
			if (c->size != d->size || c->k != d->k || c->block_size != d->block_size ||
			    c->width != d->width || c->height != d->height ||
			    c->fps_milli != d->fps_milli || c->hash != d->hash)
				return false;
		}
		return true;
	}
	case WIRE_PING:
	case WIRE_PONG:
		return a->u.ping.nonce == b->u.ping.nonce && a->u.ping.flags == b->u.ping.flags;
	case WIRE_BYE:
		return a->u.bye.code == b->u.bye.code && !strcmp(a->u.bye.reason, b->u.bye.reason);
	}
	return false;
}

/* Encode sample i into buf; returns its length. */
static size_t encode_sample(unsigned i)
{
	ck_assert(wire_sample(i, &msg, unit));
	int n = wire_encode(&msg, buf, sizeof buf);
	ck_assert_msg(n > 0, "sample %u: encode %d", i, n);
	return (size_t)n;
}

static unsigned n_samples(void)
{
	unsigned n = 0;
	while (wire_sample(n, &msg, unit))
		n++;
	return n;
}

START_TEST(test_roundtrip)
{
	unsigned n = n_samples();
	bool seen[WIRE_TYPE_MAX + 1] = { false };
	ck_assert_uint_ge(n, 30);
	for (unsigned i = 0; i < n; i++) {
		ck_assert(wire_sample(i, &msg, unit));
		int size = wire_encoded_size(&msg);
		ck_assert_int_gt(size, WIRE_HDR_LEN);
		ck_assert_int_le(size, WIRE_MAX_MSG);
		int len = wire_encode(&msg, buf, sizeof buf);
		ck_assert_int_eq(len, size);
		/* Exactly-sized buffer works too. */
		ck_assert_int_eq(wire_encode(&msg, buf2, (size_t)size), size);
		ck_assert(!memcmp(buf, buf2, (size_t)size));

		enum wire_type t;
		ck_assert_int_eq(wire_peek(buf, (size_t)len, &t), 0);
		ck_assert_int_eq(t, msg.type);

		memset(&msg2, 0xa5, sizeof msg2);
		ck_assert_msg(wire_decode(buf, (size_t)len, &msg2) == 0, "sample %u", i);
		ck_assert_msg(msg_eq(&msg, &msg2), "sample %u differs", i);
		/* Zero copy: coef and payload point into the input. A systematic
		 * block's coefficients are its index (1 byte); a relay list
		 * (1 + 2n bytes) comes between them and the payload. */
		if (msg.type == WIRE_BLOCK) {
			const struct wire_block *b = &msg2.u.block;
			size_t c = b->flags & WIRE_BLOCK_SYSTEMATIC ? 1 : b->k;
			size_t d = b->flags & WIRE_BLOCK_DESTS ? 1 + 2 * (size_t)b->ndest : 0;
			if (!(b->flags & WIRE_BLOCK_SYSTEMATIC))
				ck_assert_ptr_eq(b->coef, buf + WIRE_HDR_LEN + WIRE_BLOCK_HEAD);
			ck_assert_ptr_eq(b->payload, buf + WIRE_HDR_LEN + WIRE_BLOCK_HEAD + c + d);
		}
		ck_assert_int_eq(wire_encode(&msg2, buf2, sizeof buf2), len);
		ck_assert(!memcmp(buf, buf2, (size_t)len));
		seen[msg.type] = true;
	}
	for (int t = 1; t <= WIRE_TYPE_MAX; t++)
		ck_assert_msg(seen[t], "no sample of type %s", wire_type_name(t));
}
END_TEST

/* The largest BLOCK is the largest message: it fits the limit. */
START_TEST(test_block_extremes)
{
	size_t n = encode_sample(13);
	ck_assert_uint_eq(n, WIRE_HDR_LEN + WIRE_BLOCK_HEAD + 256 + 65535);
	ck_assert_uint_le(n, WIRE_MAX_MSG);
	ck_assert_int_eq(wire_decode(buf, n, &msg2), 0);
	ck_assert_uint_eq(msg2.u.block.k, 256);
	ck_assert_uint_eq(msg2.u.block.block_size, 65535);
	n = encode_sample(12);
	ck_assert_uint_eq(n, WIRE_HDR_LEN + WIRE_BLOCK_HEAD + 1 + 1); /* systematic: index, payload */
}
END_TEST

/* Every sample but the blocks back to back in one WebSocket message, and
 * a block last: wire_decode_next gives each in turn with its length;
 * wire_decode takes one message only; a message cut short at the end is
 * an error, not a message; a block takes the rest. */
START_TEST(test_back_to_back)
{
	static uint8_t cat[4 * WIRE_MAX_MSG];
	size_t off = 0, lens[256];
	unsigned n = n_samples(), cnt = 0;
	for (unsigned i = 0; i <= n; i++) {
		size_t len = encode_sample(i < n ? i : 16);
		if (i < n && (msg.type == WIRE_BLOCK || off + len > sizeof cat - WIRE_MAX_MSG))
			continue;
		memcpy(cat + off, buf, len);
		off += len;
		lens[cnt++] = len;
	}
	ck_assert_uint_ge(cnt, 20);
	size_t pos = 0, used;
	for (unsigned j = 0, i = 0; j < cnt; j++) {
		/* The j-th message is sample i (the blocks were left out, and
		 * sample 16, a block, is last). */
		for (; i < n && (encode_sample(i) != lens[j] || msg.type == WIRE_BLOCK); i++)
			;
		if (i == n)
			encode_sample(16);
		int rc = wire_decode_next(cat + pos, off - pos, &msg2, &used);
		ck_assert_msg(rc == 0, "msg %u: %d", j, rc);
		ck_assert_uint_eq(used, lens[j]);
		ck_assert(!memcmp(cat + pos, buf, used));
		ck_assert_int_eq(wire_decode(cat + pos, used, &msg2), 0);
		if (pos + used < off && off - pos <= WIRE_MAX_MSG)
			ck_assert_int_eq(wire_decode(cat + pos, off - pos, &msg2), LC_EPROTO);
		pos += used;
		i++;
	}
	ck_assert_uint_eq(pos, off);
	/* The last but one message cut short by one byte. */
	ck_assert_int_eq(wire_decode_next(cat + off - lens[cnt - 1] - lens[cnt - 2], lens[cnt - 2] - 1,
					  &msg2, &used), LC_ETRUNC);
	/* Whatever follows a block is its payload. */
	size_t b = encode_sample(16);
	memcpy(cat, buf, b);
	size_t d = encode_sample(19);
	memcpy(cat + b, buf, d);
	ck_assert_int_eq(wire_decode_next(cat, b + d, &msg2, &used), 0);
	ck_assert_uint_eq(used, b + d);
	ck_assert_int_eq(msg2.type, WIRE_BLOCK);
	ck_assert_uint_eq(msg2.u.block.block_size, 1400 + d);
	/* A bad second message is an error of its own. */
	size_t a = encode_sample(22);
	memcpy(cat, buf, a);
	memcpy(cat + a, buf, a);
	cat[a] = WIRE_TYPE_MAX + 1;
	ck_assert_int_eq(wire_decode_next(cat, 2 * a, &msg2, &used), 0);
	ck_assert_uint_eq(used, a);
	ck_assert_int_eq(wire_decode_next(cat + a, a, &msg2, &used), LC_ETYPE);
}
END_TEST

/* BLOCK, DONE, PULL and WANT carry a segment number's low 16 bits; the
 * receiver takes the number nearest the newest it knows. */
START_TEST(test_segment_low_bits)
{
	wire_sample(19, &msg, unit); /* DONE */
	msg.u.done.segment = 70000;  /* 0x11170 */
	int n = wire_encode(&msg, buf, sizeof buf);
	ck_assert_int_eq(n, WIRE_HDR_LEN + 3);
	ck_assert_uint_eq(buf[1], 0x11);
	ck_assert_uint_eq(buf[2], 0x70);
	ck_assert_int_eq(wire_decode(buf, (size_t)n, &msg2), 0);
	ck_assert_uint_eq(msg2.u.done.segment, 70000 - 65536);
	ck_assert_uint_eq(wire_seg_near(69990, msg2.u.done.segment), 70000);
	ck_assert_uint_eq(wire_seg_near(70000, msg2.u.done.segment), 70000);
	ck_assert_uint_eq(wire_seg_near(70000 + 30000, msg2.u.done.segment), 70000);
	ck_assert_uint_eq(wire_seg_near(70000 - 30000, msg2.u.done.segment), 70000);
	/* Across a multiple of 65536 either way, and never below 0. */
	ck_assert_uint_eq(wire_seg_near(65530, 3), 65539);
	ck_assert_uint_eq(wire_seg_near(65539, 65530), 65530);
	ck_assert_uint_eq(wire_seg_near(5, 65530), 65530);
	ck_assert_uint_eq(wire_seg_near(0, 0), 0);
	ck_assert_uint_eq(wire_seg_near(40000, 7), 65543);
	ck_assert_uint_eq(wire_seg_near(30000, 7), 7);
}
END_TEST

/* Byte-exact vectors pin the format of the header comment. */
START_TEST(test_golden)
{
	static const uint8_t hello[] = {
		0x01,                                           /* HELLO */
		0x00, 0x01,                                     /* proto 1 */
		0x02,                                           /* role PEER */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* peer id */
		0x00, 0x00, 0x07, 0xd0,                         /* up 2000 */
		0x00, 0x00, 0x1f, 0x40,                         /* down 8000 */
		0x23, 0x28,                                     /* port 9000 */
		9, '1', '2', '7', '.', '0', '.', '0', '.', '1',
		4, 'd', 'e', 'm', 'o',
		15, 'l', 'a', 'y', 'e', 'r', 'c', 'a', 's', 't', ' ', '0', '.', '1', '.', '0',
	};
	size_t n = encode_sample(2);
	ck_assert_uint_eq(n, sizeof hello);
	ck_assert(!memcmp(buf, hello, n));

	static const uint8_t block[] = {
		0x05,                               /* BLOCK */
		0x00, 0x00, 0x10,                   /* seg 0, layer 0 | SYSTEMATIC << 3 */
		0x00,                               /* k - 1 = 0 */
		0x00, 0x00,                         /* index 0, payload (B = 1) */
	};
	n = encode_sample(12);
	ck_assert_uint_eq(n, sizeof block);
	ck_assert(!memcmp(buf, block, n - 1));
	ck_assert_uint_eq(buf[n - 1], ws_payload[0]);

	static const uint8_t pong[] = {
		0x0a,                               /* PONG */
		0xff, 0xff, 0xff, 0xff, 0x00,       /* nonce, flags */
	};
	n = encode_sample(27);
	ck_assert_uint_eq(n, sizeof pong);
	ck_assert(!memcmp(buf, pong, n));

	static const uint8_t sub[] = { 0x07, 0xff, 0x03, 0x00 };
	n = encode_sample(22);
	ck_assert_uint_eq(n, sizeof sub);
	ck_assert(!memcmp(buf, sub, n));

	static const uint8_t dests[] = {
		0x05,                               /* BLOCK */
		0x00, 0x29, 0x38,                   /* seg 41, layer 0 | (FWD|SYS|DESTS) << 3 */
		0x03,                               /* k - 1 = 3 */
		0x02,                               /* index 2 */
		0x03, 0x07, 0x08, 0x00, 0x00, 0xff, 0xff, /* 3 tags of 2 bytes */
	};
	n = encode_sample(35);
	ck_assert_uint_eq(n, sizeof dests + 3);
	ck_assert(!memcmp(buf, dests, sizeof dests));

	/* A descriptor without FORMAT: 15 bytes a layer. */
	static const uint8_t seg[] = {
		0x08,                                           /* SEGMENT */
		0x00, 0x00, 0x00, 0x4e,                         /* seg 78 */
		0x00, 0x06, 0x0a, 0x24, 0x18, 0x2d, 0x82, 0x40, /* capture */
		0x00, 0x0f, 0x42, 0x40,                         /* duration 1 s */
		0x00, 0x02,                                     /* flags, nlayers */
		0x00, 0x00, 0x23, 0x28, 0x07, 0x05, 0x78,       /* 9000, k 8, B 1400 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x11, /* hash */
		0x00, 0x00, 0x0f, 0xa0, 0x03, 0x05, 0x78,       /* 4000, k 4, B 1400 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x22, /* hash */
	};
	n = encode_sample(37);
	ck_assert_uint_eq(n, sizeof seg);
	ck_assert(!memcmp(buf, seg, n));
	/* With FORMAT, 23: sample 25 has 4 layers. */
	ck_assert_uint_eq(encode_sample(25), WIRE_HDR_LEN + 18 + 4 * WIRE_LAYER_FMT_LEN);
}
END_TEST

/* Every prefix of every valid message is a truncation: each body is
 * self-delimiting, so a short one always runs out inside a field. */
START_TEST(test_truncation)
{
	unsigned ns = n_samples();
	for (unsigned i = 0; i < ns; i++) {
		size_t n = encode_sample(i);
		/* A BLOCK's payload is the rest of the message: a prefix that
		 * keeps a byte of it is a block of fewer bytes. */
		size_t whole = n;
		if (msg.type == WIRE_BLOCK)
			n -= msg.u.block.block_size - 1;
		for (size_t len = 0; len < n; len++)
			ck_assert_msg(wire_decode(buf, len, &msg2) == LC_ETRUNC,
				      "sample %u prefix %zu", i, len);
		if (msg.type == WIRE_BLOCK) {
			ck_assert_int_eq(wire_decode(buf, n, &msg2), 0);
			ck_assert_uint_eq(msg2.u.block.block_size, 1);
			ck_assert_int_eq(wire_decode(buf, whole, &msg2), 0);
			ck_assert_uint_eq(msg2.u.block.block_size, msg.u.block.block_size);
		}
	}
}
END_TEST

START_TEST(test_bad_lengths)
{
	unsigned ns = n_samples();
	for (unsigned i = 0; i < ns; i++) {
		size_t n = encode_sample(i);
		/* A byte beyond the message's fields (a BLOCK's payload has
		 * none beyond it: one more payload byte, unless that is too
		 * many). */
		buf[n] = 0;
		int want = msg.type != WIRE_BLOCK ? LC_EPROTO
			   : msg.u.block.block_size < WIRE_B_MAX ? 0 : LC_ERANGE;
		ck_assert_int_eq(wire_decode(buf, n + 1, &msg2), want);
		ck_assert_int_eq(wire_decode(buf, n, &msg2), 0);
	}
	/* A buffer over the maximum, whatever it holds. */
	encode_sample(26);
	ck_assert_int_eq(wire_decode(buf, WIRE_MAX_MSG + 1, &msg2), LC_E2BIG);
	enum wire_type t;
	ck_assert_int_eq(wire_peek(buf, WIRE_MAX_MSG + 1, &t), LC_E2BIG);
	/* Exactly the maximum is not oversize: it fails on its content. */
	memset(buf + WIRE_HDR_LEN, 0, WIRE_MAX_BODY);
	ck_assert_int_eq(wire_decode(buf, WIRE_MAX_MSG, &msg2), LC_EPROTO);
	ck_assert_int_eq(wire_peek(buf, WIRE_MAX_MSG, &t), 0);
	ck_assert_int_eq(wire_peek(buf, WIRE_HDR_LEN - 1, &t), LC_ETRUNC);
}
END_TEST

START_TEST(test_bad_header)
{
	enum wire_type t;
	size_t n = encode_sample(2);
	static const struct { unsigned off; uint8_t val; int err; } cases[] = {
		{ 0, 0, LC_ETYPE }, { 0, WIRE_TYPE_MAX + 1, LC_ETYPE }, { 0, 0x4c, LC_ETYPE },
		{ 0, 0xff, LC_ETYPE }, { 0, 0x81, LC_ETYPE },
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		uint8_t old = buf[cases[c].off];
		buf[cases[c].off] = cases[c].val;
		ck_assert_msg(wire_decode(buf, n, &msg2) == cases[c].err, "case %zu", c);
		ck_assert_int_eq(wire_peek(buf, n, &t), cases[c].err);
		buf[cases[c].off] = old;
	}
	ck_assert_int_eq(wire_decode(buf, n, &msg2), 0);
	/* Another type's valid body under this header is malformed. */
	buf[0] = WIRE_PING;
	ck_assert_int_lt(wire_decode(buf, n, &msg2), 0);
	ck_assert_int_eq(wire_decode(NULL, 0, &msg2), LC_ETRUNC);
}
END_TEST

/* Patch bytes of sample i's body at off and expect err. */
static void patch_expect(unsigned i, size_t off, const uint8_t *bytes, size_t nb, int err)
{
	size_t n = encode_sample(i);
	ck_assert_uint_le(WIRE_HDR_LEN + off + nb, n);
	memcpy(buf + WIRE_HDR_LEN + off, bytes, nb);
	int rc = wire_decode(buf, n, &msg2);
	ck_assert_msg(rc == err, "sample %u off %zu: got %d want %d", i, off, rc, err);
}
#define PATCH(i, off, err, ...)                                                     \
	do {                                                                        \
		static const uint8_t b_[] = { __VA_ARGS__ };                        \
		patch_expect(i, off, b_, sizeof b_, err);                           \
	} while (0)

/* Decode a body built by hand under a valid header. */
static int raw_decode(uint8_t type, const uint8_t *body, size_t n)
{
	buf[0] = type;
	memcpy(buf + WIRE_HDR_LEN, body, n);
	return wire_decode(buf, WIRE_HDR_LEN + n, &msg2);
}

START_TEST(test_bad_fields_hello)
{
	/* Sample 2 at the offsets of the table: proto 0, role 3..11, peer 3..10,
	 * port 19, host 21 ("127.0.0.1"), stream 31, software 36. */
	PATCH(2, 0, LC_ERANGE, 0, 0);
	PATCH(2, 2, LC_ERANGE, 0);
	PATCH(2, 2, LC_ERANGE, 0x08);
	PATCH(2, 2, LC_ERANGE, 0x82);
	PATCH(2, 3, LC_ERANGE, 0, 0, 0, 0, 0, 0, 0, 0);
	PATCH(2, 22, LC_ERANGE, ' ');
	PATCH(2, 22, LC_ERANGE, 0);
	PATCH(2, 22, LC_ERANGE, 0x7f);
	PATCH(2, 22, LC_ERANGE, 0x80);
	PATCH(2, 22, LC_ERANGE, '\n');
	PATCH(2, 32, LC_ERANGE, 0);
	PATCH(2, 32, LC_ERANGE, 0x1f);
	PATCH(2, 37, LC_ERANGE, 0xff);
	PATCH(2, 36, LC_ERANGE, WIRE_SOFTWARE_MAX + 1);
	/* A string length past the body. */
	PATCH(2, 36, LC_ETRUNC, 16);
	/* Spaces are fine outside hosts; these patches keep it valid. */
	PATCH(2, 32, 0, ' ');
	PATCH(2, 37, 0, '~');
	PATCH(2, 0, 0, 0xff, 0xff);

	/* Strings one byte over their bound. */
	static uint8_t body[600];
	size_t n = 0;
	memset(body, 0, sizeof body);
	lc_put_be16(body, 1);
	body[2] = WIRE_ROLE_PEER;
	body[10] = 1; /* peer id 1 */
	n = 21;
	body[n++] = WIRE_HOST_MAX + 1;
	memset(body + n, 'h', WIRE_HOST_MAX + 1);
	n += WIRE_HOST_MAX + 1;
	body[n++] = 0;
	body[n++] = 0;
	ck_assert_int_eq(raw_decode(WIRE_HELLO, body, n), LC_ERANGE);
	/* At the bound it is valid; one byte after it is trailing garbage. */
	n = 21;
	body[n++] = WIRE_HOST_MAX;
	memset(body + n, 'h', WIRE_HOST_MAX);
	n += WIRE_HOST_MAX;
	body[n++] = 0;
	body[n++] = 0;
	ck_assert_int_eq(raw_decode(WIRE_HELLO, body, n), 0);
	ck_assert_uint_eq(strlen(msg2.u.hello.host), WIRE_HOST_MAX);
	body[n] = 0;
	ck_assert_int_eq(raw_decode(WIRE_HELLO, body, n + 1), LC_EPROTO);

	n = 21;
	body[n++] = 0;
	body[n++] = WIRE_STREAM_MAX + 1;
	memset(body + n, 's', WIRE_STREAM_MAX + 1);
	n += WIRE_STREAM_MAX + 1;
	body[n++] = 0;
	ck_assert_int_eq(raw_decode(WIRE_HELLO, body, n), LC_ERANGE);
}
END_TEST

START_TEST(test_bad_fields_lists)
{
	/* PEERS, sample 4: count 0, id 1..8, port 9, host 11. */
	PATCH(4, 0, LC_ERANGE, WIRE_PEERS_MAX + 1);
	PATCH(4, 0, LC_ERANGE, 0xff);
	PATCH(4, 0, LC_ETRUNC, 2);
	PATCH(4, 0, LC_EPROTO, 0);
	PATCH(4, 1, LC_ERANGE, 0, 0, 0, 0, 0, 0, 0, 0);
	PATCH(4, 9, LC_ERANGE, 0, 0);
	PATCH(4, 12, LC_ERANGE, ' ');
	static const uint8_t empty_host[] = { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0 };
	ck_assert_int_eq(raw_decode(WIRE_PEERS, empty_host, sizeof empty_host), LC_ERANGE);

	/* HAVE, sample 9: count 0; entry 0 at 1: seg 1..4, nlayers 5, done 6,
	 * ranks 7..12; entry 1 at 13: nlayers 17, done 18, ranks 19..26. */
	PATCH(9, 0, LC_ERANGE, WIRE_HAVE_MAX + 1);
	PATCH(9, 0, LC_ETRUNC, 3);
	PATCH(9, 5, LC_ERANGE, WIRE_LAYERS_MAX + 1);
	PATCH(9, 6, LC_ERANGE, 0x09);          /* bit 3 with 3 layers */
	PATCH(9, 6, LC_ERANGE, 0x04);          /* done, rank 0 */
	PATCH(9, 7, LC_ERANGE, 0x01, 0x01);    /* rank 257 */
	PATCH(9, 7, LC_ERANGE, 0xff, 0xff);
	PATCH(9, 19, LC_ERANGE, 0x01, 0x01);
	PATCH(9, 18, LC_ERANGE, 0x80);
	PATCH(9, 18, 0, 0x0e);                 /* done 1..3: ranks 1, 255, 256 */
	PATCH(9, 7, 0, 0x01, 0x00);            /* rank 256 */
	static const uint8_t have9[] = { 1, 0, 0, 0, 1, 9, 0 };
	ck_assert_int_eq(raw_decode(WIRE_HAVE, have9, sizeof have9), LC_ERANGE);
}
END_TEST

START_TEST(test_bad_fields_block)
{
	/* Sample 16: seg 0, layer 3 | flags << 3 at 2, k - 1 3, index 4
	 * (systematic: k = 16, unit at 5), payload 5 (B = 1400, the rest).
	 * Any layer fits its 3 bits; the flags' unused bits must be 0. */
	PATCH(16, 2, 0, 7 | WIRE_BLOCK_SYSTEMATIC << 3);
	PATCH(16, 2, LC_ERANGE, 3 | 0x40 | WIRE_BLOCK_SYSTEMATIC << 3);
	PATCH(16, 2, LC_ERANGE, 3 | 0x80 | WIRE_BLOCK_SYSTEMATIC << 3);
	/* The unit's index must be below k; k itself does not size a
	 * systematic block's body. */
	PATCH(16, 4, LC_ERANGE, 16);
	PATCH(16, 4, LC_ERANGE, 0xff);
	PATCH(16, 3, LC_ERANGE, 4);
	PATCH(16, 4, 0, 15);
	PATCH(16, 4, 0, 0);
	PATCH(16, 3, 0, 5);
	PATCH(16, 3, 0, 0xff);
	/* Without the flag, k coefficients come first: the rest is 15 bytes
	 * shorter. */
	PATCH(16, 2, 0, 3 | WIRE_BLOCK_FORWARD << 3);
	ck_assert_uint_eq(msg2.u.block.block_size, 1400 - 15);
	/* Sample 17, dense: k = 8, B = 64, coef 4, payload 12. k sizes the
	 * coefficients, and the payload is what is left. */
	PATCH(17, 3, 0, 8);
	ck_assert_uint_eq(msg2.u.block.block_size, 63);
	PATCH(17, 3, LC_ETRUNC, 71);  /* 72 coefficients: nothing left */
	PATCH(17, 3, LC_ETRUNC, 0xff);
	PATCH(17, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	/* B is 1..65535: an empty payload is cut short, a longer one too
	 * long. */
	static uint8_t body[5 + 65536];
	memset(body, 0, sizeof body);
	body[2] = WIRE_BLOCK_SYSTEMATIC << 3; /* seg 0, layer 0, k 1, index 0 */
	ck_assert_int_eq(raw_decode(WIRE_BLOCK, body, 5), LC_ETRUNC);
	ck_assert_int_eq(raw_decode(WIRE_BLOCK, body, 6), 0);
	ck_assert_uint_eq(msg2.u.block.block_size, 1);
	ck_assert_int_eq(raw_decode(WIRE_BLOCK, body, 5 + 65535), 0);
	ck_assert_uint_eq(msg2.u.block.block_size, 65535);
	ck_assert_int_eq(raw_decode(WIRE_BLOCK, body, 5 + 65536), LC_ERANGE);
}
END_TEST

/* A relay list: sample 35 (layer 0) is systematic with index 4, ndest 5
 * (3), tags 6, 8 and 10 (0x0708, 0, 0xffff), payload 12 (B = 3). */
START_TEST(test_bad_fields_dests)
{
	PATCH(35, 2, LC_ERANGE, (WIRE_BLOCK_SYSTEMATIC | WIRE_BLOCK_DESTS) << 3); /* not FORWARD */
	/* Without the flag, the list is payload. */
	PATCH(35, 2, 0, (WIRE_BLOCK_SYSTEMATIC | WIRE_BLOCK_FORWARD) << 3);
	ck_assert_uint_eq(msg2.u.block.block_size, 3 + 7);
	PATCH(35, 5, LC_ERANGE, 0);
	PATCH(35, 5, LC_ERANGE, WIRE_DEST_MAX + 1);
	PATCH(35, 5, LC_ERANGE, 0xff);
	PATCH(35, 5, 0, 2);                   /* the third tag is payload */
	ck_assert_uint_eq(msg2.u.block.block_size, 3 + 2);
	PATCH(35, 5, LC_ETRUNC, 5);           /* 10 bytes of tags, 9 left */
	PATCH(35, 5, LC_ETRUNC, 6);
	PATCH(35, 10, LC_ERANGE, 7, 8);       /* the first tag again */
	PATCH(35, 10, LC_ERANGE, 0, 0);       /* the second again */
	PATCH(35, 10, 0, 0, 2);
	ck_assert_uint_eq(msg2.u.block.dest[2], 2);
	/* The encoder holds the same rules. */
	ck_assert(wire_sample(35, &msg, unit));
	msg.u.block.flags &= (uint8_t)~WIRE_BLOCK_DESTS;
	ck_assert_int_eq(wire_encoded_size(&msg), LC_ERANGE); /* a list without the flag */
	msg.u.block.flags |= WIRE_BLOCK_DESTS;
	msg.u.block.ndest = 0;
	ck_assert_int_eq(wire_encoded_size(&msg), LC_ERANGE);
	msg.u.block.ndest = 3;
	msg.u.block.dest[2] = msg.u.block.dest[0];
	ck_assert_int_eq(wire_encoded_size(&msg), LC_ERANGE);
	msg.u.block.dest[2] = 9;
	ck_assert_int_gt(wire_encoded_size(&msg), 0);
}
END_TEST

START_TEST(test_bad_fields_small)
{
	/* PULL, sample 11: seg 0, layer 2, flags 3, count 4. */
	PATCH(11, 2, LC_ERANGE, WIRE_LAYERS_MAX);
	PATCH(11, 3, LC_ERANGE, 0x02);
	PATCH(11, 3, LC_ERANGE, 0xff);
	PATCH(11, 3, 0, 0x00);
	PATCH(11, 4, LC_ERANGE, 0, 0);
	PATCH(11, 4, LC_ERANGE, 0x01, 0x01);
	PATCH(11, 4, LC_ERANGE, 0xff, 0xff);
	/* DONE, sample 19: layer 2. */
	PATCH(19, 2, LC_ERANGE, WIRE_LAYERS_MAX);
	PATCH(19, 2, LC_ERANGE, 0xff);
	/* SUBSCRIBE, sample 21: level 0, cap 1. */
	PATCH(21, 1, LC_ERANGE, WIRE_LAYERS_MAX);
	PATCH(21, 1, LC_ERANGE, 3);           /* level 7 > cap 3 */
	PATCH(21, 0, LC_ERANGE, WIRE_LAYERS_MAX);
	PATCH(21, 0, LC_ERANGE, 0xfe);
	PATCH(21, 0, 0, WIRE_LEVEL_NONE);
	PATCH(22, 1, LC_ERANGE, 0xff);        /* NONE with cap out of range */
	PATCH(21, 2, LC_ERANGE, 0x02);        /* unknown flag */
	PATCH(21, 2, LC_ERANGE, 0x81);
	PATCH(21, 2, 0, WIRE_SUB_SOURCE_LINK);
	PATCH(21, 2, 0, 0);
	/* BYE, sample 31: code 0, reason 2. */
	PATCH(31, 3, LC_ERANGE, 0);
	PATCH(31, 3, LC_ERANGE, 0x7f);
	PATCH(31, 3, LC_ERANGE, 0xc3);
	PATCH(31, 2, LC_ETRUNC, 15);
	PATCH(31, 2, LC_EPROTO, 13);
	PATCH(31, 0, 0, 0xff, 0xff);          /* unknown codes pass */
	static uint8_t body[3 + WIRE_REASON_MAX + 1];
	memset(body, 'r', sizeof body);
	body[0] = 0;
	body[1] = 0;
	body[2] = WIRE_REASON_MAX + 1;
	ck_assert_int_eq(raw_decode(WIRE_BYE, body, sizeof body), LC_ERANGE);
	body[2] = WIRE_REASON_MAX;
	ck_assert_int_eq(raw_decode(WIRE_BYE, body, sizeof body - 1), 0);
	/* PING/PONG: 5 bytes exactly; ECHO is a PING's only flag. */
	static uint8_t ping6[6] = { 0 };
	ck_assert_int_eq(raw_decode(WIRE_PING, ping6, 6), LC_EPROTO);
	ck_assert_int_eq(raw_decode(WIRE_PONG, ping6, 4), LC_ETRUNC);
	ck_assert_int_eq(raw_decode(WIRE_PONG, ping6, 5), 0);
	ping6[4] = WIRE_PING_ECHO;
	ck_assert_int_eq(raw_decode(WIRE_PING, ping6, 5), 0);
	ck_assert_int_eq(raw_decode(WIRE_PONG, ping6, 5), LC_ERANGE);
	ping6[4] = 0x02;
	ck_assert_int_eq(raw_decode(WIRE_PING, ping6, 5), LC_ERANGE);
	/* WANT, sample 34: seg 0, layer 2, k 3, bitmap 5 (k = 13: 2 bytes). */
	PATCH(34, 2, LC_ERANGE, WIRE_LAYERS_MAX);
	PATCH(34, 3, LC_ERANGE, 0, 0);            /* k = 0 */
	PATCH(34, 3, LC_ERANGE, 0x01, 0x01);      /* k = 257 */
	PATCH(34, 6, LC_ERANGE, 0x20);            /* bit 13: past k */
	PATCH(34, 6, LC_ERANGE, 0x00);            /* nothing wanted */
	PATCH(34, 5, 0, 0x01);                    /* chunks 0 and 12 */
	PATCH(34, 3, LC_ETRUNC, 0, 17);           /* 3 bitmap bytes declared */
	PATCH(34, 3, LC_EPROTO, 0, 8);            /* 1 bitmap byte: 1 left over */
}
END_TEST

START_TEST(test_bad_fields_segment)
{
	/* Sample 25 (FORMAT): seg 0, capture 4, duration 12, flags 16,
	 * nlayers 17, layer l at 18 + 23 l: size +0, k - 1 +4, B +5, hash +7,
	 * width +15, height +17, fps +19. */
	PATCH(25, 12, LC_ERANGE, 0, 0, 0, 0);
	PATCH(25, 12, LC_ERANGE, 0x03, 0x93, 0x87, 0x01);  /* 60000001 */
	PATCH(25, 12, 0, 0x03, 0x93, 0x87, 0x00);
	PATCH(25, 16, LC_ERANGE, 0x04 | WIRE_SEG_FORMAT);
	PATCH(25, 16, LC_ERANGE, 0x80 | WIRE_SEG_FORMAT);
	PATCH(25, 16, 0, WIRE_SEG_FORMAT);
	PATCH(25, 16, LC_EPROTO, 0x00);       /* 4 layers of 15 bytes: 32 over */
	PATCH(25, 17, LC_ERANGE, WIRE_LAYERS_MAX + 1);
	PATCH(25, 17, LC_ETRUNC, 5);
	PATCH(25, 17, LC_EPROTO, 3);
	for (unsigned l = 0; l < 4; l++) {
		size_t o = 18 + WIRE_LAYER_FMT_LEN * l;
		PATCH(25, o + 4, LC_ERANGE, 0);                 /* k 1: size > B */
		PATCH(25, o + 4, 0, 0xff);                      /* k 256 */
		PATCH(25, o + 5, LC_ERANGE, 0, 0);
		PATCH(25, o + 5, LC_ERANGE, 0, 1);              /* size > k */
		PATCH(25, o + 0, LC_ERANGE, 0xff, 0xff, 0xff, 0xff);
		PATCH(25, o + 7, 0, 0, 0, 0, 0, 0, 0, 0, 0);
		PATCH(25, o + 15, LC_ERANGE, 0, 0);
		PATCH(25, o + 17, LC_ERANGE, 0, 0);
		PATCH(25, o + 19, LC_ERANGE, 0, 0, 0, 0);
		PATCH(25, o + 19, LC_ERANGE, 0, 0x0f, 0x42, 0x41);  /* 1000001 */
		PATCH(25, o + 19, 0, 0, 0x0f, 0x42, 0x40);
	}
	/* Sample 37 (no FORMAT): 2 layers at 18 + 15 l. FORMAT set would
	 * need 16 bytes more. */
	PATCH(37, 16, LC_ETRUNC, WIRE_SEG_FORMAT);
	PATCH(37, 16, 0, WIRE_SEG_KEYFRAME);
	PATCH(37, 17, LC_EPROTO, 1);
	PATCH(37, 17, LC_ETRUNC, 3);
	PATCH(37, 18 + WIRE_LAYER_LEN + 5, LC_ERANGE, 0, 0);
	PATCH(37, 18 + WIRE_LAYER_LEN + 4, LC_ERANGE, 1);  /* 4000 > 2 * 1400 */
	PATCH(37, 18 + WIRE_LAYER_LEN + 4, 0, 2);
	/* size == k * B is the largest valid size: layer 0 is k 8, B 1400. */
	PATCH(25, 18, 0, 0, 0, 0x2b, 0xc0);
	PATCH(25, 18, LC_ERANGE, 0, 0, 0x2b, 0xc1);
	static const uint8_t zero_layers[18] = { 0 };
	static uint8_t zl[18];
	memcpy(zl, zero_layers, sizeof zl);
	zl[15] = 1; /* duration 1 */
	ck_assert_int_eq(raw_decode(WIRE_SEGMENT, zl, sizeof zl), LC_ERANGE);
}
END_TEST

/* The encoder refuses what the decoder would refuse. */
START_TEST(test_encode_invalid)
{
	wire_sample(2, &msg, unit);
	msg.u.hello.peer_id = 0;
	ck_assert_int_eq(wire_encoded_size(&msg), LC_ERANGE);
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(2, &msg, unit);
	memset(msg.u.hello.host, 'h', sizeof msg.u.hello.host); /* no NUL: 254 */
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(2, &msg, unit);
	strcpy(msg.u.hello.host, "a b");
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(2, &msg, unit);
	strcpy(msg.u.hello.software, "tab\there");
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(2, &msg, unit);
	msg.u.hello.role = 0x10;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);

	wire_sample(4, &msg, unit);
	msg.u.peers.count = WIRE_PEERS_MAX + 1;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(4, &msg, unit);
	msg.u.peers.peer[0].host[0] = '\0';
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);

	wire_sample(9, &msg, unit);
	msg.u.have.count = WIRE_HAVE_MAX + 1;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(9, &msg, unit);
	msg.u.have.seg[1].nlayers = WIRE_LAYERS_MAX + 1;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(9, &msg, unit);
	msg.u.have.seg[0].rank[0] = 257;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);

	wire_sample(16, &msg, unit);
	msg.u.block.k = 0;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(16, &msg, unit);
	msg.u.block.k = 257;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(16, &msg, unit);
	msg.u.block.block_size = WIRE_B_MAX + 1;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(16, &msg, unit);
	msg.u.block.block_size = 0;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(16, &msg, unit);
	msg.u.block.payload = NULL;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_EINVAL);

	wire_sample(25, &msg, unit);
	msg.u.segment.nlayers = 0;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	/* A format without FORMAT, none with it. */
	wire_sample(37, &msg, unit);
	msg.u.segment.layer[1].fps_milli = 30000;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	msg.u.segment.flags = WIRE_SEG_FORMAT;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(25, &msg, unit);
	msg.u.segment.layer[3].height = 0;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(21, &msg, unit);
	msg.u.subscribe.cap = 2;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);
	wire_sample(31, &msg, unit);
	memset(msg.u.bye.reason, 'x', sizeof msg.u.bye.reason);
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ERANGE);

	wire_sample(26, &msg, unit);
	msg.type = (enum wire_type)0;
	ck_assert_int_eq(wire_encode(&msg, buf, sizeof buf), LC_ETYPE);
	msg.type = (enum wire_type)(WIRE_TYPE_MAX + 1);
	ck_assert_int_eq(wire_encoded_size(&msg), LC_ETYPE);

	/* Every buffer too small by any amount is refused. */
	unsigned ns = n_samples();
	for (unsigned i = 0; i < ns; i++) {
		wire_sample(i, &msg, unit);
		int size = wire_encoded_size(&msg);
		ck_assert_int_gt(size, 0);
		ck_assert_int_eq(wire_encode(&msg, buf, 0), LC_EFULL);
		ck_assert_int_eq(wire_encode(&msg, buf, (size_t)size - 1), LC_EFULL);
		if (size < 1000)
			for (int cap = 0; cap < size; cap++)
				ck_assert_int_eq(wire_encode(&msg, buf, (size_t)cap), LC_EFULL);
	}
}
END_TEST

/* The zero-copy head plus the payload is the whole BLOCK. */
START_TEST(test_block_head)
{
	unsigned ns = n_samples(), blocks = 0;
	for (unsigned i = 0; i < ns; i++) {
		wire_sample(i, &msg, unit);
		if (msg.type != WIRE_BLOCK)
			continue;
		blocks++;
		size_t n = encode_sample(i);
		struct wire_block b = msg.u.block;
		b.payload = NULL;
		memset(buf2, 0xee, sizeof buf2);
		int h = wire_encode_block_head(&b, buf2, n);
		ck_assert_int_eq(h, WIRE_HDR_LEN + WIRE_BLOCK_HEAD +
					    (b.flags & WIRE_BLOCK_SYSTEMATIC ? 1 : b.k) +
					    (b.flags & WIRE_BLOCK_DESTS ? 1 + 2 * b.ndest : 0));
		memcpy(buf2 + h, msg.u.block.payload, b.block_size);
		ck_assert(!memcmp(buf, buf2, n));
		ck_assert_int_eq(wire_encode_block_head(&b, buf2, n - 1), LC_EFULL);
	}
	ck_assert_uint_ge(blocks, 5);
	wire_sample(16, &msg, unit);
	struct wire_block b = msg.u.block;
	b.k = 0;
	ck_assert_int_eq(wire_encode_block_head(&b, buf2, sizeof buf2), LC_ERANGE);
	b = msg.u.block;
	b.coef = NULL;
	ck_assert_int_eq(wire_encode_block_head(&b, buf2, sizeof buf2), LC_EINVAL);
	b = msg.u.block;
	b.flags |= 0x40;
	ck_assert_int_eq(wire_encode_block_head(&b, buf2, sizeof buf2), LC_ERANGE);
}
END_TEST

START_TEST(test_helpers)
{
	ck_assert_int_eq(wire_close_code(0), 1000);
	ck_assert_int_eq(wire_close_code(LC_ETRUNC), 1002);
	ck_assert_int_eq(wire_close_code(LC_EPROTO), 1002);
	ck_assert_int_eq(wire_close_code(LC_EVERSION), 1002);
	ck_assert_int_eq(wire_close_code(LC_ETYPE), 1002);
	ck_assert_int_eq(wire_close_code(LC_ERANGE), 1007);
	ck_assert_int_eq(wire_close_code(LC_E2BIG), 1009);
	ck_assert_int_eq(wire_close_code(LC_ENOMEM), 1011);
	ck_assert_str_eq(wire_type_name(WIRE_HELLO), "HELLO");
	ck_assert_str_eq(wire_type_name(WIRE_SEGMENT), "SEGMENT");
	ck_assert_str_eq(wire_type_name(WIRE_BYE), "BYE");
	ck_assert_str_eq(wire_type_name(0), "?");
	ck_assert_str_eq(wire_type_name(WIRE_TYPE_MAX + 1), "?");
	ck_assert_str_eq(wire_type_name(-1), "?");
	char key[WIRE_TYPE_KEY_MAX];
	wire_type_key(WIRE_SUBSCRIBE, key);
	ck_assert_str_eq(key, "subscribe");
	wire_type_key(0, key);
	ck_assert_str_eq(key, "?");
	for (int t = 1; t <= WIRE_TYPE_MAX; t++)
		ck_assert_str_ne(wire_type_name(t), "?");
	/* FNV-1a 64 reference values. */
	ck_assert(wire_hash64("", 0) == 0xcbf29ce484222325ULL);
	ck_assert(wire_hash64("a", 1) == 0xaf63dc4c8601ec8cULL);
	ck_assert(wire_hash64("foobar", 6) == 0x85944171f73967e8ULL);
}
END_TEST

/* Decode, and if that succeeds the bytes must re-encode identically. */
static void check_any(const uint8_t *p, size_t n)
{
	int rc = wire_decode(p, n, &msg2);
	if (rc == 0) {
		int m = wire_encode(&msg2, buf2, sizeof buf2);
		ck_assert_int_eq(m, (int)n);
		ck_assert(!memcmp(p, buf2, n));
	} else {
		ck_assert(rc == LC_ETRUNC || rc == LC_EPROTO || rc == LC_EVERSION ||
			  rc == LC_ETYPE || rc == LC_ERANGE || rc == LC_E2BIG);
	}
}

/* Every byte of every sample (the first 400 of the big ones) set to a few
 * values; then random multi-byte mutations. */
START_TEST(test_mutations)
{
	static const uint8_t vals[] = { 0x00, 0x01, 0x02, 0x08, 0x20, 0x7f, 0x80, 0xff };
	unsigned ns = n_samples();
	struct lc_rng rng;
	lc_rng_seed(&rng, 1234);
	unsigned ok = 0, total = 0;
	for (unsigned i = 0; i < ns; i++) {
		size_t n = encode_sample(i);
		size_t lim = n < 400 ? n : 400;
		for (size_t pos = 0; pos < lim; pos++) {
			uint8_t old = buf[pos];
			for (size_t v = 0; v < sizeof vals; v++) {
				buf[pos] = vals[v];
				check_any(buf, n);
				ok += wire_decode(buf, n, &msg2) == 0;
				total++;
			}
			buf[pos] = (uint8_t)(old ^ 1);
			check_any(buf, n);
			buf[pos] = old;
		}
		for (int it = 0; it < 300; it++) {
			uint8_t m[1024];
			size_t len = n < sizeof m ? n : sizeof m;
			memcpy(m, buf, len);
			unsigned flips = 1 + lc_rng_below(&rng, 4);
			for (unsigned f = 0; f < flips; f++)
				m[lc_rng_below(&rng, (uint32_t)len)] = (uint8_t)lc_rng_next(&rng);
			check_any(m, len);
			check_any(m, lc_rng_below(&rng, (uint32_t)len + 1));
		}
	}
	/* Many mutations stay valid (values inside their ranges). */
	ck_assert_uint_gt(ok, total / 20);
}
END_TEST

/* Random valid messages round-trip. */
START_TEST(test_random_roundtrip)
{
	struct lc_rng rng;
	lc_rng_seed(&rng, 99);
	unsigned ns = n_samples();
	for (int it = 0; it < 3000; it++) {
		wire_sample(lc_rng_below(&rng, ns), &msg, unit);
		switch (msg.type) {
		case WIRE_HELLO:
			msg.u.hello.peer_id = lc_rng_next(&rng) | 1;
			msg.u.hello.up_kbps = (uint32_t)lc_rng_next(&rng);
			ws_str(msg.u.hello.software, lc_rng_below(&rng, WIRE_SOFTWARE_MAX + 1), false);
			break;
		case WIRE_BLOCK:
			if (!(msg.u.block.flags & WIRE_BLOCK_SYSTEMATIC)) {
				msg.u.block.k = (uint16_t)(1 + lc_rng_below(&rng, WIRE_K_MAX));
				msg.u.block.block_size = 1 + lc_rng_below(&rng, 2000);
			}
			break;
		case WIRE_HAVE:
			msg.u.have.count = lc_rng_below(&rng, WIRE_HAVE_MAX + 1);
			for (unsigned j = 0; j < msg.u.have.count; j++) {
				struct wire_have_seg *s = &msg.u.have.seg[j];
				s->segment = (uint32_t)lc_rng_next(&rng);
				s->nlayers = (uint8_t)lc_rng_below(&rng, WIRE_LAYERS_MAX + 1);
				s->done = 0;
				for (unsigned l = 0; l < s->nlayers; l++) {
					s->rank[l] = (uint16_t)lc_rng_below(&rng, WIRE_K_MAX + 1);
					if (s->rank[l] && lc_rng_below(&rng, 2))
						s->done |= (uint8_t)(1u << l);
				}
			}
			break;
		case WIRE_PING:
		case WIRE_PONG:
			msg.u.ping.nonce = (uint32_t)lc_rng_next(&rng);
			msg.u.ping.flags = msg.type == WIRE_PING ? (uint8_t)lc_rng_below(&rng, 2) : 0;
			break;
		default:
			break;
		}
		int n = wire_encode(&msg, buf, sizeof buf);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(wire_decode(buf, (size_t)n, &msg2), 0);
		ck_assert(msg_eq(&msg, &msg2));
		ck_assert_int_eq(wire_encode(&msg2, buf2, sizeof buf2), n);
		ck_assert(!memcmp(buf, buf2, (size_t)n));
	}
}
END_TEST

Suite *suite_wire(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_block_extremes);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_back_to_back);
	tcase_add_test(tc, test_segment_low_bits);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_bad_lengths);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_bad_fields_hello);
	tcase_add_test(tc, test_bad_fields_lists);
	tcase_add_test(tc, test_bad_fields_block);
	tcase_add_test(tc, test_bad_fields_dests);
	tcase_add_test(tc, test_bad_fields_small);
	tcase_add_test(tc, test_bad_fields_segment);
	tcase_add_test(tc, test_encode_invalid);
	tcase_add_test(tc, test_block_head);
	tcase_add_test(tc, test_helpers);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_random_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}
