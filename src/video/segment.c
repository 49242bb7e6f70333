/*
 * The segment wire forms (see video.h): the per-layer payload framing and
 * the segment descriptor, plus the layer ladder. The parsers take bytes
 * from the network: every length is checked before it is used, memory is
 * bounded by the input length, and the first violation returns an error.
 */
#include <stdlib.h>
#include <string.h>

#include "video/internal.h"

#define REC_HDR 8
#define PAYLOAD_HDR 4
#define DESC_HDR 36
#define DESC_LAYER 28

uint64_t video_hash64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- ladder ------------------------------------------------------------- */

void video_ladder_default(struct video_ladder *l, int spatial, int temporal)
{
	memset(l, 0, sizeof *l);
	uint8_t tt = (uint8_t)(temporal - 1);
	if (temporal >= 3) {
		/* S0 at half rate, then S0 at full rate */
		l->op[l->n].s = 0;
		l->op[l->n++].t = (uint8_t)(tt - 1);
	}
	l->op[l->n].s = 0;
	l->op[l->n++].t = tt;
	for (int s = 1; s < spatial; s++) {
		l->op[l->n].s = (uint8_t)s;
		l->op[l->n++].t = tt;
	}
}

int video_ladder_check(const struct video_ladder *l, int spatial, int temporal)
{
	if (l->n < 1 || l->n > VIDEO_MAX_LAYERS)
		return LC_ERANGE;
	for (int i = 0; i < l->n; i++) {
		if (l->op[i].s >= spatial || l->op[i].t >= temporal)
			return LC_ERANGE;
		if (i && (l->op[i].s < l->op[i - 1].s || l->op[i].t < l->op[i - 1].t ||
			  (l->op[i].s == l->op[i - 1].s && l->op[i].t == l->op[i - 1].t)))
			return LC_EINVAL;
	}
	return 0;
}

int video_ladder_parse(struct video_ladder *l, const char *text)
{
	memset(l, 0, sizeof *l);
	const char *p = text;
	while (*p) {
		if (l->n >= VIDEO_MAX_LAYERS)
			return LC_ERANGE;
		if ((p[0] != 'S' && p[0] != 's') || p[1] < '0' || p[1] > '9' ||
		    (p[2] != 'T' && p[2] != 't') || p[3] < '0' || p[3] > '9')
			return LC_EINVAL;
		l->op[l->n].s = (uint8_t)(p[1] - '0');
		l->op[l->n].t = (uint8_t)(p[3] - '0');
		l->n++;
		p += 4;
		if (*p == ',')
			p++;
		else if (*p)
			return LC_EINVAL;
	}
	return video_ladder_check(l, VIDEO_MAX_SPATIAL, VIDEO_MAX_TEMPORAL);
}

int video_ladder_layer_of(const struct video_ladder *l, int s, int t)
{
	for (int i = 0; i < l->n; i++)
		if (s <= l->op[i].s && t <= l->op[i].t)
			return i;
	return -1;
}

/* ---- payload ------------------------------------------------------------ */

void video__payload_begin(struct lc_buf *b, uint8_t layer)
{
	lc_buf_reset(b);
	uint8_t h[PAYLOAD_HDR] = { VIDEO_PAYLOAD_VERSION, layer, 0, 0 };
	lc_buf_append(b, h, sizeof h);
}

int video__payload_add(struct lc_buf *b, uint16_t index, uint8_t s, uint8_t t, const uint8_t *data,
		       size_t len)
{
	if (b->len < PAYLOAD_HDR || !len || len > UINT32_MAX)
		return LC_EINVAL;
	uint16_t n = lc_get_be16(b->data + 2);
	if (n == UINT16_MAX)
		return LC_ERANGE;
	uint8_t h[REC_HDR];
	lc_put_be16(h, index);
	h[2] = s;
	h[3] = t;
	lc_put_be32(h + 4, (uint32_t)len);
	int rc = lc_buf_reserve(b, b->len + REC_HDR + len);
	if (rc)
		return rc;
	lc_buf_append(b, h, sizeof h);
	lc_buf_append(b, data, len);
	lc_put_be16(b->data + 2, (uint16_t)(n + 1));
	return 0;
}

int video_payload_write(struct lc_buf *b, uint8_t layer, const struct video_frame_ref *rec, size_t n)
{
	video__payload_begin(b, layer);
	if (b->len != PAYLOAD_HDR)
		return LC_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = video__payload_add(b, rec[i].index, rec[i].s, rec[i].t, rec[i].data, rec[i].len);
		if (rc)
			return rc;
	}
	return 0;
}

int video_payload_parse(struct video_payload *out, const uint8_t *p, size_t len)
{
	memset(out, 0, sizeof *out);
	if (!p || len < PAYLOAD_HDR)
		return LC_ETRUNC;
	if (p[0] != VIDEO_PAYLOAD_VERSION)
		return LC_EVERSION;
	if (p[1] >= VIDEO_MAX_LAYERS)
		return LC_ERANGE;
	size_t n = lc_get_be16(p + 2);
	/* Each record takes at least REC_HDR + 1 bytes: bound n by the input. */
	if (n > (len - PAYLOAD_HDR) / (REC_HDR + 1))
		return LC_ETRUNC;
	struct video_frame_ref *rec = n ? calloc(n, sizeof *rec) : NULL;
	if (n && !rec)
		return LC_ENOMEM;
	size_t off = PAYLOAD_HDR;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (len - off < REC_HDR) {
			rc = LC_ETRUNC;
			goto fail;
		}
		struct video_frame_ref *r = &rec[i];
		r->index = lc_get_be16(p + off);
		r->s = p[off + 2];
		r->t = p[off + 3];
		uint32_t fl = lc_get_be32(p + off + 4);
		off += REC_HDR;
		if (r->index >= VIDEO_MAX_SEG_FRAMES || r->s >= VIDEO_MAX_SPATIAL ||
		    r->t >= VIDEO_MAX_TEMPORAL) {
			rc = LC_ERANGE;
			goto fail;
		}
		if (!fl) {
			rc = LC_EPROTO;
			goto fail;
		}
		if (fl > len - off) {
			rc = LC_ETRUNC;
			goto fail;
		}
		if (i && (r->index < rec[i - 1].index ||
			  (r->index == rec[i - 1].index && r->s <= rec[i - 1].s))) {
			rc = LC_EPROTO;
			goto fail;
		}
		r->len = fl;
		r->data = p + off;
		off += fl;
	}
	if (off != len) {
		rc = LC_EPROTO;
		goto fail;
	}
	out->layer = p[1];
	out->n = n;
	out->rec = rec;
	return 0;
fail:
	free(rec);
	return rc;
}

void video_payload_free(struct video_payload *pl)
{
	free(pl->rec);
	memset(pl, 0, sizeof *pl);
}

/* ---- descriptor --------------------------------------------------------- */

int video_desc_write(const struct video_seg_desc *d, uint8_t *p, size_t cap)
{
	if (d->n_layers < 1 || d->n_layers > VIDEO_MAX_LAYERS)
		return LC_EINVAL;
	size_t need = DESC_HDR + (size_t)DESC_LAYER * d->n_layers;
	if (cap < need)
		return LC_EFULL;
	memset(p, 0, need);
	p[0] = VIDEO_DESC_VERSION;
	p[1] = d->key ? 1 : 0;
	p[2] = d->n_layers;
	lc_put_be64(p + 4, d->seq);
	lc_put_be64(p + 12, (uint64_t)d->pts_us);
	lc_put_be64(p + 20, (uint64_t)d->wall_us);
	lc_put_be32(p + 28, d->duration_us);
	lc_put_be16(p + 32, d->n_frames);
	for (int i = 0; i < d->n_layers; i++) {
		uint8_t *q = p + DESC_HDR + DESC_LAYER * i;
		const struct video_seg_layer *l = &d->layer[i];
		lc_put_be32(q, l->size);
		lc_put_be64(q + 4, l->hash);
		lc_put_be16(q + 12, l->width);
		lc_put_be16(q + 14, l->height);
		lc_put_be32(q + 16, l->fps_num);
		lc_put_be32(q + 20, l->fps_den);
		q[24] = l->s;
		q[25] = l->t;
	}
	return (int)need;
}

int video_desc_parse(struct video_seg_desc *d, const uint8_t *p, size_t len)
{
	memset(d, 0, sizeof *d);
	if (!p || len < DESC_HDR)
		return LC_ETRUNC;
	if (p[0] != VIDEO_DESC_VERSION)
		return LC_EVERSION;
	if ((p[1] & ~1u) || p[3] || lc_get_be16(p + 34))
		return LC_EPROTO;
	uint8_t n = p[2];
	if (n < 1 || n > VIDEO_MAX_LAYERS)
		return LC_ERANGE;
	size_t need = DESC_HDR + (size_t)DESC_LAYER * n;
	if (len < need)
		return LC_ETRUNC;
	if (len > need)
		return LC_EPROTO;
	d->key = p[1] & 1;
	d->n_layers = n;
	d->seq = lc_get_be64(p + 4);
	d->pts_us = (int64_t)lc_get_be64(p + 12);
	d->wall_us = (int64_t)lc_get_be64(p + 20);
	d->duration_us = lc_get_be32(p + 28);
	d->n_frames = lc_get_be16(p + 32);
	if (!d->n_frames || d->n_frames > VIDEO_MAX_SEG_FRAMES)
		return LC_ERANGE;
	struct video_ladder lad = { .n = n };
	for (int i = 0; i < n; i++) {
		const uint8_t *q = p + DESC_HDR + DESC_LAYER * i;
		struct video_seg_layer *l = &d->layer[i];
		l->size = lc_get_be32(q);
		l->hash = lc_get_be64(q + 4);
		l->width = lc_get_be16(q + 12);
		l->height = lc_get_be16(q + 14);
		l->fps_num = lc_get_be32(q + 16);
		l->fps_den = lc_get_be32(q + 20);
		l->s = q[24];
		l->t = q[25];
		if (lc_get_be16(q + 26))
			return LC_EPROTO;
		if (!l->width || !l->height || l->width > VIDEO_MAX_DIM || l->height > VIDEO_MAX_DIM ||
		    !l->fps_num || !l->fps_den || l->size < PAYLOAD_HDR)
			return LC_ERANGE;
		lad.op[i].s = l->s;
		lad.op[i].t = l->t;
	}
	int rc = video_ladder_check(&lad, VIDEO_MAX_SPATIAL, VIDEO_MAX_TEMPORAL);
	return rc ? LC_EPROTO : 0;
}

void video_segment_free(struct video_segment *seg)
{
	if (!seg)
		return;
	for (int i = 0; i < VIDEO_MAX_LAYERS; i++)
		lc_buf_free(&seg->payload[i]);
	free(seg);
}
