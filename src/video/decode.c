/*
 * Reassembly and decode. Layers 0..l of a segment are checked (size and
 * hash against the descriptor, strict parse, every record in the layer the
 * ladder assigns it), merged by frame index, and each shown frame becomes
 * one superframe holding spatial layers 0..s with a rebuilt index. That is
 * the operating point's own bitstream: what a full decode would have shown
 * at (S <= s, T <= t), bit for bit.
 */
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>

#include "video/internal.h"

/* ---- superframes -------------------------------------------------------- */

int video_superframe_split(const uint8_t *p, size_t len, const uint8_t **frames, size_t *sizes, int max)
{
	if (!len || max < 1)
		return LC_EINVAL;
	uint8_t m = p[len - 1];
	if ((m & 0xe0) == 0xc0) {
		int n = (m & 7) + 1, mag = ((m >> 3) & 3) + 1;
		size_t isz = 2 + (size_t)mag * n;
		if (len >= isz && p[len - isz] == m) {
			if (n > max)
				return LC_ERANGE;
			const uint8_t *q = p + len - isz + 1;
			size_t off = 0, data = len - isz;
			for (int i = 0; i < n; i++) {
				size_t sz = 0;
				for (int b = 0; b < mag; b++)
					sz |= (size_t)q[i * mag + b] << (8 * b);
				if (!sz || sz > data - off)
					return LC_EPROTO;
				frames[i] = p + off;
				sizes[i] = sz;
				off += sz;
			}
			return n;
		}
	}
	frames[0] = p;
	sizes[0] = len;
	return 1;
}

int video_superframe_build(struct lc_buf *b, const uint8_t *const *frames, const size_t *sizes, int n)
{
	lc_buf_reset(b);
	if (n < 1 || n > 8)
		return LC_EINVAL;
	size_t maxsz = 0;
	for (int i = 0; i < n; i++) {
		if (!sizes[i] || sizes[i] > UINT32_MAX)
			return LC_EINVAL;
		if (sizes[i] > maxsz)
			maxsz = sizes[i];
		int rc = lc_buf_append(b, frames[i], sizes[i]);
		if (rc)
			return rc;
	}
	/* A lone frame needs no index unless its last byte could be read as one. */
	if (n == 1 && (frames[0][sizes[0] - 1] & 0xe0) != 0xc0)
		return 0;
	int mag = maxsz <= 0xff ? 1 : maxsz <= 0xffff ? 2 : maxsz <= 0xffffff ? 3 : 4;
	uint8_t idx[2 + 4 * 8];
	uint8_t marker = (uint8_t)(0xc0 | ((mag - 1) << 3) | (n - 1));
	size_t k = 0;
	idx[k++] = marker;
	for (int i = 0; i < n; i++)
		for (int bb = 0; bb < mag; bb++)
			idx[k++] = (uint8_t)(sizes[i] >> (8 * bb));
	idx[k++] = marker;
	return lc_buf_append(b, idx, k);
}

/* ---- operating points --------------------------------------------------- */

void video_op_init(struct video_op *op)
{
	memset(op, 0, sizeof *op);
	op->layer = -1;
}

void video_op_free(struct video_op *op)
{
	lc_buf_free(&op->data);
	video_op_init(op);
}

/* Check one layer's payload against the descriptor and the ladder. */
static int check_layer(const struct video_seg_desc *d, int l, const uint8_t *p, size_t len,
		       struct video_payload *pl)
{
	if (!p || !len)
		return LC_ENOENT;
	if (len != d->layer[l].size || video_hash64(p, len) != d->layer[l].hash)
		return LC_ECORRUPT;
	int rc = video_payload_parse(pl, p, len);
	if (rc)
		return rc;
	if (pl->layer != l) {
		video_payload_free(pl);
		return LC_EPROTO;
	}
	struct video_ladder lad = { .n = d->n_layers };
	for (int i = 0; i < d->n_layers; i++) {
		lad.op[i].s = d->layer[i].s;
		lad.op[i].t = d->layer[i].t;
	}
	for (size_t i = 0; i < pl->n; i++) {
		const struct video_frame_ref *r = &pl->rec[i];
		if (r->index >= d->n_frames || video_ladder_layer_of(&lad, r->s, r->t) != l) {
			video_payload_free(pl);
			return LC_EPROTO;
		}
	}
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct video_frame_ref *x = a, *y = b;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return (x->s > y->s) - (x->s < y->s);
}

/* Merge layers 0..top into superframes. */
static int merge(struct video_op *op, struct video_payload *pl, int top)
{
	size_t total = 0;
	for (int l = 0; l <= top; l++)
		total += pl[l].n;
	lc_buf_reset(&op->data);
	op->n = 0;
	if (!total)
		return 0;
	struct video_frame_ref *all = malloc(total * sizeof *all);
	if (!all)
		return LC_ENOMEM;
	size_t k = 0;
	for (int l = 0; l <= top; l++) {
		memcpy(all + k, pl[l].rec, pl[l].n * sizeof *all);
		k += pl[l].n;
	}
	qsort(all, total, sizeof *all, cmp_ref);
	int rc = 0;
	struct lc_buf sf;
	lc_buf_init(&sf);
	for (size_t i = 0; i < total;) {
		size_t j = i;
		const uint8_t *frames[VIDEO_MAX_SPATIAL];
		size_t sizes[VIDEO_MAX_SPATIAL];
		/* spatial ids must run 0, 1, ... with one temporal id */
		while (j < total && all[j].index == all[i].index) {
			if (j - i >= VIDEO_MAX_SPATIAL || all[j].s != j - i || all[j].t != all[i].t) {
				rc = LC_EPROTO;
				goto out;
			}
			frames[j - i] = all[j].data;
			sizes[j - i] = all[j].len;
			j++;
		}
		if (op->n >= VIDEO_MAX_SEG_FRAMES) {
			rc = LC_ERANGE;
			goto out;
		}
		if ((rc = video_superframe_build(&sf, frames, sizes, (int)(j - i))))
			goto out;
		struct video_op_frame *of = &op->frame[op->n++];
		of->index = all[i].index;
		of->t = all[i].t;
		of->off = op->data.len;
		of->len = sf.len;
		if ((rc = lc_buf_append(&op->data, sf.data, sf.len)))
			goto out;
		i = j;
	}
out:
	lc_buf_free(&sf);
	free(all);
	return rc;
}

int video_op_build(struct video_op *op, const struct video_seg_desc *d,
		   const uint8_t *const *payload, const size_t *len, int want)
{
	op->layer = -1;
	op->n = 0;
	lc_buf_reset(&op->data);
	if (want < 0 || want >= d->n_layers)
		return LC_ERANGE;
	struct video_payload pl[VIDEO_MAX_LAYERS];
	memset(pl, 0, sizeof pl);
	int err = 0, good = -1;
	for (int l = 0; l <= want; l++) {
		if ((err = check_layer(d, l, payload[l], len[l], &pl[l])))
			break;
		good = l;
	}
	/* A merge can still fail on a well-formed but inconsistent sender:
	 * then drop layers from the top. */
	for (; good >= 0; good--) {
		int rc = merge(op, pl, good);
		if (!rc)
			break;
		if (!err)
			err = rc;
		if (rc == LC_ENOMEM)
			break;
	}
	op->layer = good;
	if (good < 0) {
		op->n = 0;
		lc_buf_reset(&op->data);
	}
	for (int l = 0; l <= want; l++)
		video_payload_free(&pl[l]);
	return err;
}

/* ---- decoder ------------------------------------------------------------ */

struct video_dec {
	vpx_codec_ctx_t codec;
	bool ok;
	int threads;
	int spatial;
	struct video_op op;
};

static int dec_init(struct video_dec *d)
{
	vpx_codec_dec_cfg_t c = { .threads = (unsigned)d->threads };
	if (vpx_codec_dec_init(&d->codec, vpx_codec_vp9_dx(), &c, 0))
		return LC_EIO;
	d->ok = true;
	if (d->spatial >= 0 &&
	    vpx_codec_control(&d->codec, VP9_DECODE_SVC_SPATIAL_LAYER, d->spatial) != VPX_CODEC_OK)
		return LC_EIO;
	return 0;
}

static void dec_fini(struct video_dec *d)
{
	if (d->ok)
		vpx_codec_destroy(&d->codec);
	d->ok = false;
}

int video_dec_new(struct video_dec **out, int threads)
{
	*out = NULL;
	struct video_dec *d = calloc(1, sizeof *d);
	if (!d)
		return LC_ENOMEM;
	d->threads = threads < 1 ? 1 : threads;
	d->spatial = -1;
	video_op_init(&d->op);
	int rc = dec_init(d);
	if (rc) {
		video_dec_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void video_dec_free(struct video_dec *d)
{
	if (!d)
		return;
	dec_fini(d);
	video_op_free(&d->op);
	free(d);
}

int video_dec_set_spatial(struct video_dec *d, int s)
{
	d->spatial = s;
	if (s >= 0 && vpx_codec_control(&d->codec, VP9_DECODE_SVC_SPATIAL_LAYER, s) != VPX_CODEC_OK)
		return LC_EIO;
	return 0;
}

static int decode(struct video_dec *d, const uint8_t *p, size_t len, const struct video_frame *stamp,
		  video_frame_cb cb, void *arg)
{
	if (!d->ok)
		return LC_ESTATE;
	if (vpx_codec_decode(&d->codec, p, (unsigned)len, NULL, 0) != VPX_CODEC_OK) {
		LC_DEBUG("video", "decode: %s", vpx_codec_error(&d->codec));
		return LC_ECORRUPT;
	}
	vpx_codec_iter_t it = NULL;
	vpx_image_t *img;
	while ((img = vpx_codec_get_frame(&d->codec, &it))) {
		if (img->fmt != VPX_IMG_FMT_I420)
			return LC_ENOTSUP;
		struct video_frame f;
		if (stamp)
			f = *stamp;
		else
			memset(&f, 0, sizeof f);
		f.width = (int)img->d_w;
		f.height = (int)img->d_h;
		for (int i = 0; i < 3; i++) {
			f.plane[i] = img->planes[i];
			f.stride[i] = img->stride[i];
		}
		f.mem = NULL;
		if (cb)
			cb(&f, arg);
	}
	return 0;
}

int video_dec_frame(struct video_dec *d, const uint8_t *p, size_t len, video_frame_cb cb, void *arg)
{
	if (!len || len > UINT32_MAX)
		return LC_EINVAL;
	return decode(d, p, len, NULL, cb, arg);
}

int video_dec_segment(struct video_dec *d, const struct video_seg_desc *desc,
		      const uint8_t *const *payload, const size_t *len, int want,
		      video_frame_cb cb, void *arg, int *used)
{
	*used = -1;
	int err = video_op_build(&d->op, desc, payload, len, want);
	int layer = d->op.layer;
	int last_given = -1;  /* highest frame index handed to cb */
	while (layer >= 0) {
		int rc = 0;
		for (size_t i = 0; i < d->op.n; i++) {
			const struct video_op_frame *of = &d->op.frame[i];
			struct video_frame stamp;
			memset(&stamp, 0, sizeof stamp);
			int64_t off = desc->n_frames ? (int64_t)desc->duration_us * of->index / desc->n_frames : 0;
			stamp.pts_us = desc->pts_us + off;
			stamp.wall_us = desc->wall_us + off;
			stamp.segment = desc->seq;
			stamp.index = of->index;
			stamp.layer = layer;
			bool give = of->index > last_given;
			rc = decode(d, d->op.data.data + of->off, of->len, &stamp, give ? cb : NULL, arg);
			if (rc)
				break;
			if (give)
				last_given = of->index;
		}
		if (!rc) {
			*used = layer;
			return err;
		}
		/* The decoder state is suspect: start again from the key frame
		 * one layer lower, giving only frames not given yet. */
		if (!err)
			err = rc;
		LC_WARN("video", "segment %llu: decode error at layer %d, falling back",
			(unsigned long long)desc->seq, layer);
		dec_fini(d);
		if (dec_init(d))
			return LC_EIO;
		if (--layer < 0)
			break;
		int rc2 = video_op_build(&d->op, desc, payload, len, layer);
		if (rc2 && d->op.layer < layer)
			layer = d->op.layer;
	}
	return err ? err : LC_ECORRUPT;
}
