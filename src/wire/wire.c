#include "wire/wire.h"

#include <assert.h>
#include <string.h>

#define TRY(x)                          \
	do {                            \
		int err_ = (x);         \
		if (err_ < 0)           \
			return err_;    \
	} while (0)

/* ---- rules shared by the encoder and the decoder ------------------------ */

/*
 * A string of n bytes is valid when every byte is printable ASCII (and, for
 * hosts, not a space). NUL is thereby excluded, which keeps the C string in
 * the struct and the bytes on the wire in one-to-one correspondence.
 */
static int check_chars(const char *s, size_t n, bool host)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || (host && c == ' '))
			return LC_ERANGE;
	}
	return 0;
}

/* Length of a struct string, checked against its bound and its bytes. */
static int check_str(const char *s, size_t max, bool host, size_t min)
{
	size_t n = strnlen(s, max + 1);
	if (n > max || n < min)
		return LC_ERANGE;
	TRY(check_chars(s, n, host));
	return (int)n;
}

static int check_layer(uint8_t layer)
{
	return layer < WIRE_LAYERS_MAX ? 0 : LC_ERANGE;
}

static int check_kb(uint32_t k, uint32_t b)
{
	if (k < 1 || k > WIRE_K_MAX || b < 1 || b > WIRE_B_MAX)
		return LC_ERANGE;
	return 0;
}

static int check_hello(const struct wire_hello *h, size_t *body)
{
	int hl, sl, wl;
	if (h->proto == 0 || h->peer_id == 0)
		return LC_ERANGE;
	if (h->role == 0 || (h->role & ~(WIRE_ROLE_SOURCE | WIRE_ROLE_PEER | WIRE_ROLE_TRACKER)))
		return LC_ERANGE;
	TRY(hl = check_str(h->host, WIRE_HOST_MAX, true, 0));
	TRY(sl = check_str(h->stream, WIRE_STREAM_MAX, false, 0));
	TRY(wl = check_str(h->software, WIRE_SOFTWARE_MAX, false, 0));
	*body = 21 + 3 + (size_t)hl + (size_t)sl + (size_t)wl;
	return 0;
}

static int check_peers(const struct wire_peers *p, size_t *body)
{
	size_t n = 1;
	if (p->count > WIRE_PEERS_MAX)
		return LC_ERANGE;
	for (unsigned i = 0; i < p->count; i++) {
		const struct wire_peer *e = &p->peer[i];
		int hl;
		if (e->peer_id == 0 || e->port == 0)
			return LC_ERANGE;
		TRY(hl = check_str(e->host, WIRE_HOST_MAX, true, 1));
		n += 11 + (size_t)hl;
	}
	*body = n;
	return 0;
}

static int check_have(const struct wire_have *h, size_t *body)
{
	size_t n = 1;
	if (h->count > WIRE_HAVE_MAX)
		return LC_ERANGE;
	for (unsigned i = 0; i < h->count; i++) {
		const struct wire_have_seg *s = &h->seg[i];
		if (s->nlayers > WIRE_LAYERS_MAX)
			return LC_ERANGE;
		if ((unsigned)s->done >> s->nlayers)
			return LC_ERANGE;
		for (unsigned l = 0; l < s->nlayers; l++) {
			if (s->rank[l] > WIRE_K_MAX)
				return LC_ERANGE;
			if ((s->done >> l & 1) && s->rank[l] == 0)
				return LC_ERANGE;
		}
		n += 6 + 2 * (size_t)s->nlayers;
	}
	*body = n;
	return 0;
}

static int check_pull(const struct wire_pull *p, size_t *body)
{
	TRY(check_layer(p->layer));
	if (p->flags & ~WIRE_PULL_REPAIR)
		return LC_ERANGE;
	if (p->count < 1 || p->count > WIRE_K_MAX)
		return LC_ERANGE;
	*body = 6;
	return 0;
}

#define BLOCK_FLAGS (WIRE_BLOCK_FORWARD | WIRE_BLOCK_SYSTEMATIC | WIRE_BLOCK_DESTS)

/* A systematic block's coefficients travel as the index of their 1. */
static size_t coef_len(const struct wire_block *b)
{
	return b->flags & WIRE_BLOCK_SYSTEMATIC ? 1 : b->k;
}

/* Unit vectors without storage: UNITS + WIRE_K_MAX - i, read for k <= WIRE_K_MAX
 * bytes, is 1 at i and 0 elsewhere. */
static const uint8_t UNITS[2 * WIRE_K_MAX] = { [WIRE_K_MAX] = 1 };

/* A relay list: with FORWARD only, 1..WIRE_DEST_MAX tags, no two alike;
 * without DESTS, empty. */
static int check_dests(const struct wire_block *b)
{
	if (!(b->flags & WIRE_BLOCK_DESTS))
		return b->ndest ? LC_ERANGE : 0;
	if (!(b->flags & WIRE_BLOCK_FORWARD) || b->ndest < 1 || b->ndest > WIRE_DEST_MAX)
		return LC_ERANGE;
	for (unsigned i = 0; i < b->ndest; i++) {
		for (unsigned j = 0; j < i; j++)
			if (b->dest[j] == b->dest[i])
				return LC_ERANGE;
	}
	return 0;
}

static size_t dests_len(const struct wire_block *b)
{
	return b->flags & WIRE_BLOCK_DESTS ? 1 + 2 * (size_t)b->ndest : 0;
}

static int check_block(const struct wire_block *b, size_t *body)
{
	TRY(check_layer(b->layer));
	if (b->flags & ~BLOCK_FLAGS)
		return LC_ERANGE;
	TRY(check_dests(b));
	TRY(check_kb(b->k, b->block_size));
	if (!b->coef || !b->payload)
		return LC_EINVAL;
	if (b->flags & WIRE_BLOCK_SYSTEMATIC) {
		unsigned ones = 0, others = 0;
		for (unsigned i = 0; i < b->k; i++) {
			ones += b->coef[i] == 1;
			others += b->coef[i] > 1;
		}
		if (ones != 1 || others)
			return LC_ERANGE;
	}
	*body = WIRE_BLOCK_HEAD + coef_len(b) + dests_len(b) + b->block_size;
	return 0;
}

static int check_subscribe(const struct wire_subscribe *s, size_t *body)
{
	if (s->cap >= WIRE_LAYERS_MAX)
		return LC_ERANGE;
	if (s->level != WIRE_LEVEL_NONE && s->level > s->cap)
		return LC_ERANGE;
	if (s->flags & ~WIRE_SUB_SOURCE_LINK)
		return LC_ERANGE;
	*body = 3;
	return 0;
}

static int check_segment(const struct wire_segment *s, size_t *body)
{
	if (s->duration_us < 1 || s->duration_us > WIRE_DURATION_MAX)
		return LC_ERANGE;
	if (s->flags & ~(WIRE_SEG_KEYFRAME | WIRE_SEG_FORMAT))
		return LC_ERANGE;
	bool fmt = s->flags & WIRE_SEG_FORMAT;
	if (s->nlayers < 1 || s->nlayers > WIRE_LAYERS_MAX)
		return LC_ERANGE;
	for (unsigned l = 0; l < s->nlayers; l++) {
		const struct wire_layer_desc *d = &s->layer[l];
		TRY(check_kb(d->k, d->block_size));
		if ((uint64_t)d->size > (uint64_t)d->k * d->block_size)
			return LC_ERANGE;
		if (!fmt) {
			/* Not sent: zero, so that what decodes re-encodes. */
			if (d->width || d->height || d->fps_milli)
				return LC_ERANGE;
			continue;
		}
		if (d->width == 0 || d->height == 0)
			return LC_ERANGE;
		if (d->fps_milli < 1 || d->fps_milli > WIRE_FPS_MILLI_MAX)
			return LC_ERANGE;
	}
	*body = 18 + (fmt ? WIRE_LAYER_FMT_LEN : WIRE_LAYER_LEN) * (size_t)s->nlayers;
	return 0;
}

static int check_bye(const struct wire_bye *b, size_t *body)
{
	int rl;
	TRY(rl = check_str(b->reason, WIRE_REASON_MAX, false, 0));
	*body = 3 + (size_t)rl;
	return 0;
}

static int check_want(const struct wire_want *w, size_t *body)
{
	TRY(check_layer(w->layer));
	if (w->k < 1 || w->k > WIRE_K_MAX)
		return LC_ERANGE;
	size_t nb = ((size_t)w->k + 7) / 8;
	bool any = false;
	for (size_t i = 0; i < nb; i++)
		any |= w->bitmap[i] != 0;
	if (!any)
		return LC_ERANGE;
	if (w->k % 8 && (w->bitmap[nb - 1] >> (w->k % 8)))
		return LC_ERANGE; /* bits past k */
	*body = 5 + nb;
	return 0;
}

/* Validate *m and compute its body length. */
static int check_msg(const struct wire_msg *m, size_t *body)
{
	switch (m->type) {
	case WIRE_HELLO: return check_hello(&m->u.hello, body);
	case WIRE_PEERS: return check_peers(&m->u.peers, body);
	case WIRE_HAVE: return check_have(&m->u.have, body);
	case WIRE_PULL: return check_pull(&m->u.pull, body);
	case WIRE_BLOCK: return check_block(&m->u.block, body);
	case WIRE_DONE:
		TRY(check_layer(m->u.done.layer));
		*body = 3;
		return 0;
	case WIRE_SUBSCRIBE: return check_subscribe(&m->u.subscribe, body);
	case WIRE_SEGMENT: return check_segment(&m->u.segment, body);
	case WIRE_PING:
	case WIRE_PONG:
		if (m->u.ping.flags & ~(m->type == WIRE_PING ? WIRE_PING_ECHO : 0))
			return LC_ERANGE;
		*body = 5;
		return 0;
	case WIRE_BYE: return check_bye(&m->u.bye, body);
	case WIRE_WANT: return check_want(&m->u.want, body);
	}
	return LC_ETYPE;
}

/* ---- decoding ---------------------------------------------------------- */

/* A cursor over the body; every read is checked against what is left. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static int rd_bytes(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->left < n)
		return LC_ETRUNC;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
	const uint8_t *p;
	TRY(rd_bytes(r, 1, &p));
	*v = p[0];
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	const uint8_t *p;
	TRY(rd_bytes(r, 2, &p));
	*v = lc_get_be16(p);
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;
	TRY(rd_bytes(r, 4, &p));
	*v = lc_get_be32(p);
	return 0;
}

/* The low 16 bits of a segment number (BLOCK, DONE, PULL, WANT). */
static int rd_seg(struct rd *r, uint32_t *v)
{
	const uint8_t *p;
	TRY(rd_bytes(r, 2, &p));
	*v = lc_get_be16(p);
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	const uint8_t *p;
	TRY(rd_bytes(r, 8, &p));
	*v = lc_get_be64(p);
	return 0;
}

/* A length-prefixed string into out[max + 1], NUL-terminated. */
static int rd_str(struct rd *r, char *out, size_t max, bool host)
{
	uint8_t n;
	const uint8_t *p;
	TRY(rd_u8(r, &n));
	if (n > max)
		return LC_ERANGE;
	TRY(rd_bytes(r, n, &p));
	memcpy(out, p, n);
	out[n] = '\0';
	return check_chars(out, n, host);
}

static int dec_hello(struct rd *r, struct wire_hello *h)
{
	TRY(rd_u16(r, &h->proto));
	TRY(rd_u8(r, &h->role));
	TRY(rd_u64(r, &h->peer_id));
	TRY(rd_u32(r, &h->up_kbps));
	TRY(rd_u32(r, &h->down_kbps));
	TRY(rd_u16(r, &h->port));
	TRY(rd_str(r, h->host, WIRE_HOST_MAX, true));
	TRY(rd_str(r, h->stream, WIRE_STREAM_MAX, false));
	TRY(rd_str(r, h->software, WIRE_SOFTWARE_MAX, false));
	return 0;
}

static int dec_peers(struct rd *r, struct wire_peers *p)
{
	uint8_t count;
	TRY(rd_u8(r, &count));
	if (count > WIRE_PEERS_MAX)
		return LC_ERANGE;
	p->count = count;
	for (unsigned i = 0; i < count; i++) {
		struct wire_peer *e = &p->peer[i];
		TRY(rd_u64(r, &e->peer_id));
		TRY(rd_u16(r, &e->port));
		TRY(rd_str(r, e->host, WIRE_HOST_MAX, true));
	}
	return 0;
}

static int dec_have(struct rd *r, struct wire_have *h)
{
	uint8_t count;
	TRY(rd_u8(r, &count));
	if (count > WIRE_HAVE_MAX)
		return LC_ERANGE;
	h->count = count;
	for (unsigned i = 0; i < count; i++) {
		struct wire_have_seg *s = &h->seg[i];
		memset(s->rank, 0, sizeof s->rank);
		TRY(rd_u32(r, &s->segment));
		TRY(rd_u8(r, &s->nlayers));
		if (s->nlayers > WIRE_LAYERS_MAX)
			return LC_ERANGE;
		TRY(rd_u8(r, &s->done));
		for (unsigned l = 0; l < s->nlayers; l++)
			TRY(rd_u16(r, &s->rank[l]));
	}
	return 0;
}

static int dec_pull(struct rd *r, struct wire_pull *p)
{
	TRY(rd_seg(r, &p->segment));
	TRY(rd_u8(r, &p->layer));
	TRY(rd_u8(r, &p->flags));
	TRY(rd_u16(r, &p->count));
	return 0;
}

static int dec_block(struct rd *r, struct wire_block *b)
{
	uint8_t lf;
	TRY(rd_seg(r, &b->segment));
	TRY(rd_u8(r, &lf));
	b->layer = lf & 7;
	b->flags = lf >> 3;
	uint8_t k1;
	TRY(rd_u8(r, &k1));
	b->k = (uint16_t)(k1 + 1);
	if (b->flags & ~BLOCK_FLAGS)
		return LC_ERANGE;
	if (b->flags & WIRE_BLOCK_SYSTEMATIC) {
		uint8_t i;
		TRY(rd_u8(r, &i));
		if (i >= b->k)
			return LC_ERANGE;
		b->coef = UNITS + WIRE_K_MAX - i;
	} else {
		TRY(rd_bytes(r, b->k, &b->coef));
	}
	b->ndest = 0;
	if (b->flags & WIRE_BLOCK_DESTS) {
		TRY(rd_u8(r, &b->ndest));
		if (b->ndest < 1 || b->ndest > WIRE_DEST_MAX)
			return LC_ERANGE; /* n sizes what follows */
		for (unsigned i = 0; i < b->ndest; i++)
			TRY(rd_u16(r, &b->dest[i]));
	}
	/* The payload is the rest of the WebSocket message. */
	if (!r->left)
		return LC_ETRUNC;
	if (r->left > WIRE_B_MAX)
		return LC_ERANGE;
	b->block_size = (uint32_t)r->left;
	TRY(rd_bytes(r, b->block_size, &b->payload));
	return 0;
}

static int dec_segment(struct rd *r, struct wire_segment *s)
{
	uint64_t t;
	TRY(rd_u32(r, &s->segment));
	TRY(rd_u64(r, &t));
	s->capture_us = (int64_t)t;
	TRY(rd_u32(r, &s->duration_us));
	TRY(rd_u8(r, &s->flags));
	TRY(rd_u8(r, &s->nlayers));
	if (s->nlayers > WIRE_LAYERS_MAX)
		return LC_ERANGE;
	for (unsigned l = 0; l < s->nlayers; l++) {
		struct wire_layer_desc *d = &s->layer[l];
		uint8_t k1;
		uint16_t B;
		TRY(rd_u32(r, &d->size));
		TRY(rd_u8(r, &k1));
		d->k = (uint16_t)(k1 + 1);
		TRY(rd_u16(r, &B));
		d->block_size = B;
		TRY(rd_u64(r, &d->hash));
		d->width = d->height = 0;
		d->fps_milli = 0;
		if (s->flags & WIRE_SEG_FORMAT) {
			TRY(rd_u16(r, &d->width));
			TRY(rd_u16(r, &d->height));
			TRY(rd_u32(r, &d->fps_milli));
		}
	}
	return 0;
}

static int dec_body(struct rd *r, struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_HELLO: return dec_hello(r, &m->u.hello);
	case WIRE_PEERS: return dec_peers(r, &m->u.peers);
	case WIRE_HAVE: return dec_have(r, &m->u.have);
	case WIRE_PULL: return dec_pull(r, &m->u.pull);
	case WIRE_BLOCK: return dec_block(r, &m->u.block);
	case WIRE_DONE:
		TRY(rd_seg(r, &m->u.done.segment));
		return rd_u8(r, &m->u.done.layer);
	case WIRE_SUBSCRIBE:
		TRY(rd_u8(r, &m->u.subscribe.level));
		TRY(rd_u8(r, &m->u.subscribe.cap));
		return rd_u8(r, &m->u.subscribe.flags);
	case WIRE_SEGMENT: return dec_segment(r, &m->u.segment);
	case WIRE_PING:
	case WIRE_PONG:
		TRY(rd_u32(r, &m->u.ping.nonce));
		return rd_u8(r, &m->u.ping.flags);
	case WIRE_BYE:
		TRY(rd_u16(r, &m->u.bye.code));
		return rd_str(r, m->u.bye.reason, WIRE_REASON_MAX, false);
	case WIRE_WANT: {
		struct wire_want *w = &m->u.want;
		const uint8_t *p;
		TRY(rd_seg(r, &w->segment));
		TRY(rd_u8(r, &w->layer));
		TRY(rd_u16(r, &w->k));
		if (w->k < 1 || w->k > WIRE_K_MAX)
			return LC_ERANGE; /* k sizes what follows */
		memset(w->bitmap, 0, sizeof w->bitmap);
		TRY(rd_bytes(r, ((size_t)w->k + 7) / 8, &p));
		memcpy(w->bitmap, p, ((size_t)w->k + 7) / 8);
		return 0;
	}
	}
	return LC_ETYPE;
}

int wire_peek(const uint8_t *buf, size_t len, enum wire_type *type)
{
	if (len < WIRE_HDR_LEN)
		return LC_ETRUNC;
	if (buf[0] < 1 || buf[0] > WIRE_TYPE_MAX)
		return LC_ETYPE;
	if (len > WIRE_MAX_MSG)
		return LC_E2BIG;
	*type = (enum wire_type)buf[0];
	return 0;
}

/* The header and the body's structure; *used: the message's length. */
static int decode_struct(const uint8_t *buf, size_t len, struct wire_msg *m, size_t *used)
{
	enum wire_type type;
	struct rd r;

	TRY(wire_peek(buf, len, &type));
	m->type = type;
	r.p = buf + WIRE_HDR_LEN;
	r.left = len - WIRE_HDR_LEN;
	TRY(dec_body(&r, m));
	*used = len - r.left;
	return 0;
}

int wire_decode(const uint8_t *buf, size_t len, struct wire_msg *m)
{
	size_t used, body;
	TRY(decode_struct(buf, len, m, &used));
	if (used != len)
		return LC_EPROTO;
	/* The same value rules as the encoder, so what decodes re-encodes. */
	return check_msg(m, &body);
}

int wire_decode_next(const uint8_t *buf, size_t len, struct wire_msg *m, size_t *used)
{
	size_t body;
	/* What follows may be long; no message's fields reach past the limit. */
	TRY(decode_struct(buf, len < WIRE_MAX_MSG ? len : WIRE_MAX_MSG, m, used));
	return check_msg(m, &body);
}

/* ---- encoding ---------------------------------------------------------- */

/* The encoder writes into a buffer already known to be large enough. */
struct wr {
	uint8_t *p;
};

static void wr_u8(struct wr *w, uint8_t v) { *w->p++ = v; }
static void wr_u16(struct wr *w, uint16_t v) { lc_put_be16(w->p, v); w->p += 2; }
static void wr_u32(struct wr *w, uint32_t v) { lc_put_be32(w->p, v); w->p += 4; }
static void wr_u64(struct wr *w, uint64_t v) { lc_put_be64(w->p, v); w->p += 8; }

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (n)
		memcpy(w->p, p, n);
	w->p += n;
}

/* A BLOCK up to its payload: the fields, the coefficients (a systematic
 * block's as the index of its 1, which check_block() found to be the only
 * one; any other's in full), then its relay list if it has one. */
static void wr_block_head(struct wr *w, const struct wire_block *b)
{
	wr_u16(w, (uint16_t)b->segment);
	wr_u8(w, (uint8_t)(b->layer | b->flags << 3));
	wr_u8(w, (uint8_t)(b->k - 1));
	if (!(b->flags & WIRE_BLOCK_SYSTEMATIC)) {
		wr_bytes(w, b->coef, b->k);
	} else {
		uint8_t i = 0;
		while (i + 1 < b->k && !b->coef[i])
			i++;
		wr_u8(w, i);
	}
	if (b->flags & WIRE_BLOCK_DESTS) {
		wr_u8(w, b->ndest);
		for (unsigned i = 0; i < b->ndest; i++)
			wr_u16(w, b->dest[i]);
	}
}

static void wr_str(struct wr *w, const char *s)
{
	size_t n = strlen(s); /* already checked to be within its bound */
	wr_u8(w, (uint8_t)n);
	wr_bytes(w, s, n);
}

static void enc_body(struct wr *w, const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_HELLO: {
		const struct wire_hello *h = &m->u.hello;
		wr_u16(w, h->proto);
		wr_u8(w, h->role);
		wr_u64(w, h->peer_id);
		wr_u32(w, h->up_kbps);
		wr_u32(w, h->down_kbps);
		wr_u16(w, h->port);
		wr_str(w, h->host);
		wr_str(w, h->stream);
		wr_str(w, h->software);
		break;
	}
	case WIRE_PEERS:
		wr_u8(w, (uint8_t)m->u.peers.count);
		for (unsigned i = 0; i < m->u.peers.count; i++) {
			const struct wire_peer *e = &m->u.peers.peer[i];
			wr_u64(w, e->peer_id);
			wr_u16(w, e->port);
			wr_str(w, e->host);
		}
		break;
	case WIRE_HAVE:
		wr_u8(w, (uint8_t)m->u.have.count);
		for (unsigned i = 0; i < m->u.have.count; i++) {
			const struct wire_have_seg *s = &m->u.have.seg[i];
			wr_u32(w, s->segment);
			wr_u8(w, s->nlayers);
			wr_u8(w, s->done);
			for (unsigned l = 0; l < s->nlayers; l++)
				wr_u16(w, s->rank[l]);
		}
		break;
	case WIRE_PULL:
		wr_u16(w, (uint16_t)m->u.pull.segment);
		wr_u8(w, m->u.pull.layer);
		wr_u8(w, m->u.pull.flags);
		wr_u16(w, m->u.pull.count);
		break;
	case WIRE_BLOCK: {
		const struct wire_block *b = &m->u.block;
		wr_block_head(w, b);
		wr_bytes(w, b->payload, b->block_size);
		break;
	}
	case WIRE_DONE:
		wr_u16(w, (uint16_t)m->u.done.segment);
		wr_u8(w, m->u.done.layer);
		break;
	case WIRE_SUBSCRIBE:
		wr_u8(w, m->u.subscribe.level);
		wr_u8(w, m->u.subscribe.cap);
		wr_u8(w, m->u.subscribe.flags);
		break;
	case WIRE_SEGMENT: {
		const struct wire_segment *s = &m->u.segment;
		wr_u32(w, s->segment);
		wr_u64(w, (uint64_t)s->capture_us);
		wr_u32(w, s->duration_us);
		wr_u8(w, s->flags);
		wr_u8(w, s->nlayers);
		for (unsigned l = 0; l < s->nlayers; l++) {
			const struct wire_layer_desc *d = &s->layer[l];
			wr_u32(w, d->size);
			wr_u8(w, (uint8_t)(d->k - 1));
			wr_u16(w, (uint16_t)d->block_size);
			wr_u64(w, d->hash);
			if (s->flags & WIRE_SEG_FORMAT) {
				wr_u16(w, d->width);
				wr_u16(w, d->height);
				wr_u32(w, d->fps_milli);
			}
		}
		break;
	}
	case WIRE_PING:
	case WIRE_PONG:
		wr_u32(w, m->u.ping.nonce);
		wr_u8(w, m->u.ping.flags);
		break;
	case WIRE_BYE:
		wr_u16(w, m->u.bye.code);
		wr_str(w, m->u.bye.reason);
		break;
	case WIRE_WANT:
		wr_u16(w, (uint16_t)m->u.want.segment);
		wr_u8(w, m->u.want.layer);
		wr_u16(w, m->u.want.k);
		wr_bytes(w, m->u.want.bitmap, ((size_t)m->u.want.k + 7) / 8);
		break;
	}
}

int wire_encoded_size(const struct wire_msg *m)
{
	size_t body;
	TRY(check_msg(m, &body));
	/* Every valid message fits by construction of the limits. */
	if (body > WIRE_MAX_BODY)
		return LC_E2BIG;
	return (int)(WIRE_HDR_LEN + body);
}

int wire_encode(const struct wire_msg *m, uint8_t *buf, size_t cap)
{
	int size;
	struct wr w;

	TRY(size = wire_encoded_size(m));
	if (cap < (size_t)size)
		return LC_EFULL;
	buf[0] = (uint8_t)m->type;
	w.p = buf + WIRE_HDR_LEN;
	enc_body(&w, m);
	assert(w.p == buf + size);
	return size;
}

int wire_encode_block_head(const struct wire_block *b, uint8_t *buf, size_t cap)
{
	struct wire_block v = *b;
	struct wire_msg m;
	size_t body;
	struct wr w;

	/* Validate with a stand-in payload pointer: only coef is read. */
	if (!v.payload)
		v.payload = buf;
	m.type = WIRE_BLOCK;
	m.u.block = v;
	TRY(check_msg(&m, &body));
	if (cap < WIRE_HDR_LEN + body)
		return LC_EFULL;
	buf[0] = WIRE_BLOCK;
	w.p = buf + WIRE_HDR_LEN;
	wr_block_head(&w, &v);
	return (int)(w.p - buf);
}

/* ---- helpers ----------------------------------------------------------- */

int wire_close_code(int err)
{
	switch (err) {
	case 0: return 1000;
	case LC_ETRUNC:
	case LC_EPROTO:
	case LC_EVERSION:
	case LC_ETYPE: return 1002;
	case LC_ERANGE: return 1007;
	case LC_E2BIG: return 1009;
	}
	return 1011;
}

const char *wire_type_name(int type)
{
	static const char *const names[] = {
		[WIRE_HELLO] = "HELLO", [WIRE_PEERS] = "PEERS", [WIRE_HAVE] = "HAVE",
		[WIRE_PULL] = "PULL", [WIRE_BLOCK] = "BLOCK", [WIRE_DONE] = "DONE",
		[WIRE_SUBSCRIBE] = "SUBSCRIBE", [WIRE_SEGMENT] = "SEGMENT",
		[WIRE_PING] = "PING", [WIRE_PONG] = "PONG", [WIRE_BYE] = "BYE",
		[WIRE_WANT] = "WANT",
	};
	if (type < 1 || type > WIRE_TYPE_MAX)
		return "?";
	return names[type];
}

void wire_type_key(int type, char *out)
{
	const char *n = wire_type_name(type);
	size_t i = 0;
	for (; n[i] && i + 1 < WIRE_TYPE_KEY_MAX; i++)
		out[i] = n[i] >= 'A' && n[i] <= 'Z' ? (char)(n[i] - 'A' + 'a') : n[i];
	out[i] = '\0';
}

uint64_t wire_hash64(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
