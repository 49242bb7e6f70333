/*
 * VP9 SVC encoder and segmenter. Settings follow notes/vp9-svc.md: realtime
 * CBR, error resilient (every reduced operating point needs it), no frame
 * dropping (dropping removes superframes and layers), and a key frame forced
 * at the start of every segment so that any segment can be joined.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "video/internal.h"

struct video_enc {
	struct video_enc_cfg cfg;
	vpx_codec_ctx_t codec;
	bool codec_ok;
	bool svc;
	uint64_t pushed;          /* frames given to the encoder */
	uint64_t seq;             /* next segment number */
	struct video_segment *cur;
	int in_seg;               /* frames in the current segment */
	video_packet_cb cb;
	void *cb_arg;
	/* Outer rate loop: libvpx's layer targets are the configured ones
	 * times corr[], nudged after each segment by what each layer really
	 * produced (key frames every segment make the lower layers overshoot). */
	vpx_codec_enc_cfg_t vcfg;
	double corr[VIDEO_MAX_SPATIAL][VIDEO_MAX_TEMPORAL];
	uint64_t bytes[VIDEO_MAX_SPATIAL][VIDEO_MAX_TEMPORAL]; /* this segment */
};

static const double temporal_share[VIDEO_MAX_TEMPORAL][VIDEO_MAX_TEMPORAL] = {
	{ 1.0 },            /* 1 temporal layer */
	{ 0.6, 1.0 },       /* 2: T0 at half rate */
	{ 0.5, 0.75, 1.0 }, /* 3: the 0212 pattern */
};

void video_enc_cfg_default(struct video_enc_cfg *c, int w, int h, int fps_num, int fps_den)
{
	memset(c, 0, sizeof *c);
	c->width = w;
	c->height = h;
	c->fps_num = fps_num;
	c->fps_den = fps_den;
	/* Three spatial layers down to 1/4 size, as long as that stays >= 64 px. */
	int minside = w < h ? w : h;
	c->spatial = minside >= 256 ? 3 : minside >= 128 ? 2 : 1;
	c->temporal = 3;
	/* 300/900/2500 kbps at 1280x720, scaled with the pixel count^0.75. */
	static const int base[3] = { 300, 900, 2500 };
	double scale = (double)w * h / (1280.0 * 720.0);
	double f = scale > 0 ? pow(scale, 0.75) : 1;
	for (int s = 0; s < VIDEO_MAX_SPATIAL; s++) {
		int idx = s + (3 - c->spatial);
		c->kbps[s] = idx < 3 ? (int)(base[idx] * f + 0.5) : 0;
		if (c->kbps[s] < 20 * (s + 1))
			c->kbps[s] = 20 * (s + 1);
	}
	c->seg_frames = (int)((fps_num + fps_den / 2) / (fps_den ? fps_den : 1));
	if (c->seg_frames < 1)
		c->seg_frames = 1;
	c->speed = w * h > 640 * 360 ? 9 : 7;
	c->threads = 1;
	c->inter_layer_pred = 0;
	video_ladder_default(&c->ladder, c->spatial, c->temporal);
}

void video_enc_layer_size(const struct video_enc_cfg *c, int s, int *w, int *h)
{
	int den = 1 << (c->spatial - 1 - s);
	int lw = c->width / den, lh = c->height / den;
	if (den > 1) {
		/* libvpx rounds scaled layers up to even sizes */
		lw += lw % 2;
		lh += lh % 2;
	}
	*w = lw;
	*h = lh;
}

double video_enc_op_kbps(const struct video_enc_cfg *c, int s, int t)
{
	return c->kbps[s] * temporal_share[c->temporal - 1][t];
}

static int check_cfg(const struct video_enc_cfg *c)
{
	if (c->width < 16 || c->height < 16 || c->width > VIDEO_MAX_DIM || c->height > VIDEO_MAX_DIM ||
	    c->fps_num <= 0 || c->fps_den <= 0)
		return LC_EINVAL;
	if (c->spatial < 1 || c->spatial > VIDEO_MAX_SPATIAL || c->temporal < 1 ||
	    c->temporal > VIDEO_MAX_TEMPORAL)
		return LC_ERANGE;
	if (c->spatial > 1 && ((c->width >> (c->spatial - 1)) < 8 || (c->height >> (c->spatial - 1)) < 8))
		return LC_ERANGE;
	for (int s = 0; s < c->spatial; s++)
		if (c->kbps[s] <= 0 || (s && c->kbps[s] <= c->kbps[s - 1]))
			return LC_EINVAL;
	if (c->seg_frames < 1 || c->seg_frames > VIDEO_MAX_SEG_FRAMES)
		return LC_ERANGE;
	if (c->speed < 0 || c->speed > 9 || c->threads < 1 || c->threads > 16 ||
	    c->inter_layer_pred < 0 || c->inter_layer_pred > 2)
		return LC_EINVAL;
	return video_ladder_check(&c->ladder, c->spatial, c->temporal);
}

#define CTRL(codec, id, val)                                                    \
	do {                                                                    \
		if (vpx_codec_control(codec, id, val) != VPX_CODEC_OK) {        \
			LC_ERR("video", "encoder control " #id ": %s",          \
			       vpx_codec_error_detail(codec) ? vpx_codec_error_detail(codec) : \
			       vpx_codec_error(codec));                          \
			goto fail;                                              \
		}                                                               \
	} while (0)

int video_enc_new(struct video_enc **out, const struct video_enc_cfg *cfg)
{
	*out = NULL;
	int rc = check_cfg(cfg);
	if (rc)
		return rc;
	struct video_enc *e = calloc(1, sizeof *e);
	if (!e)
		return LC_ENOMEM;
	e->cfg = *cfg;
	const int S = cfg->spatial, T = cfg->temporal;
	e->svc = S > 1 || T > 1;

	vpx_codec_enc_cfg_t c;
	if (vpx_codec_enc_config_default(vpx_codec_vp9_cx(), &c, 0)) {
		free(e);
		return LC_EIO;
	}
	c.g_w = (unsigned)cfg->width;
	c.g_h = (unsigned)cfg->height;
	c.g_timebase.num = cfg->fps_den;
	c.g_timebase.den = cfg->fps_num;
	c.g_threads = (unsigned)cfg->threads;
	c.g_lag_in_frames = 0;
	c.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	c.g_pass = VPX_RC_ONE_PASS;
	c.rc_end_usage = VPX_CBR;
	c.rc_dropframe_thresh = 0;
	c.rc_resize_allowed = 0;
	/* Max q 63 rather than 56: on hard content the lower layers hit q 56
	 * and overshoot their CBR targets by 20-30% (measured on the test
	 * scene at 720p); a live stream must keep its layer rates. */
	c.rc_min_quantizer = 2;
	c.rc_max_quantizer = 63;
	c.rc_undershoot_pct = 50;
	c.rc_overshoot_pct = 50;
	c.rc_buf_initial_sz = 500;
	c.rc_buf_optimal_sz = 600;
	c.rc_buf_sz = 1000;
	c.rc_target_bitrate = (unsigned)cfg->kbps[S - 1];
	c.kf_mode = VPX_KF_AUTO;
	c.kf_min_dist = c.kf_max_dist = (unsigned)cfg->seg_frames;
	c.ss_number_layers = (unsigned)S;
	c.ts_number_layers = (unsigned)T;
	if (e->svc) {
		c.temporal_layering_mode = T == 3 ? VP9E_TEMPORAL_LAYERING_MODE_0212
				       : T == 2 ? VP9E_TEMPORAL_LAYERING_MODE_0101
						: VP9E_TEMPORAL_LAYERING_MODE_NOLAYERING;
		for (int t = 0; t < T; t++)
			c.ts_rate_decimator[t] = 1u << (T - 1 - t);
		for (int s = 0; s < S; s++) {
			int layer_kbps = cfg->kbps[s] - (s ? cfg->kbps[s - 1] : 0);
			for (int t = 0; t < T; t++)
				c.layer_target_bitrate[s * T + t] =
					(unsigned)(layer_kbps * temporal_share[T - 1][t] + 0.5);
		}
		if (S == 1)
			for (int t = 0; t < T; t++)
				c.ts_target_bitrate[t] = c.layer_target_bitrate[t];
	}
	e->vcfg = c;
	for (int s = 0; s < VIDEO_MAX_SPATIAL; s++)
		for (int t = 0; t < VIDEO_MAX_TEMPORAL; t++)
			e->corr[s][t] = 1.0;
	if (vpx_codec_enc_init(&e->codec, vpx_codec_vp9_cx(), &c, 0)) {
		LC_ERR("video", "encoder init: %s", vpx_codec_error_detail(&e->codec) ?
		       vpx_codec_error_detail(&e->codec) : vpx_codec_error(&e->codec));
		free(e);
		return LC_EIO;
	}
	e->codec_ok = true;
	CTRL(&e->codec, VP8E_SET_CPUUSED, cfg->speed);
	CTRL(&e->codec, VP9E_SET_AQ_MODE, 3);
	CTRL(&e->codec, VP9E_SET_NOISE_SENSITIVITY, 0);
	CTRL(&e->codec, VP8E_SET_STATIC_THRESHOLD, 1);
	CTRL(&e->codec, VP8E_SET_MAX_INTRA_BITRATE_PCT, 500);
	if (cfg->threads > 1) {
		int log2 = 0;
		while ((1 << (log2 + 1)) <= cfg->threads && (cfg->width >> (log2 + 1)) >= 256)
			log2++;
		CTRL(&e->codec, VP9E_SET_TILE_COLUMNS, log2);
		CTRL(&e->codec, VP9E_SET_ROW_MT, 1);
	}
	if (e->svc) {
		vpx_svc_extra_cfg_t p;
		memset(&p, 0, sizeof p);
		for (int i = 0; i < S * T; i++) {
			p.max_quantizers[i] = 63;
			p.min_quantizers[i] = 2;
		}
		for (int s = 0; s < S; s++) {
			p.scaling_factor_num[s] = 1;
			p.scaling_factor_den[s] = 1 << (S - 1 - s);
			p.speed_per_layer[s] = cfg->speed;
		}
		p.temporal_layering_mode = (int)c.temporal_layering_mode;
		CTRL(&e->codec, VP9E_SET_SVC, 1);
		CTRL(&e->codec, VP9E_SET_SVC_PARAMETERS, &p);
		if (S > 1)
			CTRL(&e->codec, VP9E_SET_SVC_INTER_LAYER_PRED, cfg->inter_layer_pred);
	}
	*out = e;
	return 0;
fail:
	video_enc_free(e);
	return LC_EIO;
}

void video_enc_free(struct video_enc *e)
{
	if (!e)
		return;
	if (e->codec_ok)
		vpx_codec_destroy(&e->codec);
	video_segment_free(e->cur);
	free(e);
}

void video_enc_set_packet_cb(struct video_enc *e, video_packet_cb cb, void *arg)
{
	e->cb = cb;
	e->cb_arg = arg;
}

const struct video_enc_cfg *video_enc_cfg(const struct video_enc *e)
{
	return &e->cfg;
}

static int seg_begin(struct video_enc *e, const struct video_frame *f)
{
	struct video_segment *seg = calloc(1, sizeof *seg);
	if (!seg)
		return LC_ENOMEM;
	struct video_seg_desc *d = &seg->desc;
	d->seq = e->seq++;
	d->pts_us = f->pts_us;
	d->wall_us = f->wall_us;
	d->n_layers = (uint8_t)e->cfg.ladder.n;
	for (int l = 0; l < e->cfg.ladder.n; l++) {
		int w, h, s = e->cfg.ladder.op[l].s, t = e->cfg.ladder.op[l].t;
		video_enc_layer_size(&e->cfg, s, &w, &h);
		d->layer[l].s = (uint8_t)s;
		d->layer[l].t = (uint8_t)t;
		d->layer[l].width = (uint16_t)w;
		d->layer[l].height = (uint16_t)h;
		d->layer[l].fps_num = (uint32_t)e->cfg.fps_num;
		d->layer[l].fps_den = (uint32_t)e->cfg.fps_den << (e->cfg.temporal - 1 - t);
		video__payload_begin(&seg->payload[l], (uint8_t)l);
		if (seg->payload[l].len == 0) {
			video_segment_free(seg);
			return LC_ENOMEM;
		}
	}
	e->cur = seg;
	e->in_seg = 0;
	return 0;
}

static struct video_segment *seg_end(struct video_enc *e)
{
	struct video_segment *seg = e->cur;
	e->cur = NULL;
	struct video_seg_desc *d = &seg->desc;
	d->n_frames = (uint16_t)e->in_seg;
	d->duration_us = (uint32_t)((uint64_t)e->in_seg * 1000000ULL * (uint64_t)e->cfg.fps_den /
				    (uint64_t)e->cfg.fps_num);
	for (int l = 0; l < d->n_layers; l++) {
		d->layer[l].size = (uint32_t)seg->payload[l].len;
		d->layer[l].hash = video_hash64(seg->payload[l].data, seg->payload[l].len);
	}
	return seg;
}

/* Split one superframe and file its frames under their ladder layers. */
static int file_packet(struct video_enc *e, const vpx_codec_cx_pkt_t *pkt, int tid)
{
	const uint8_t *frames[VIDEO_MAX_SPATIAL + 5];
	size_t sizes[VIDEO_MAX_SPATIAL + 5];
	int n = video_superframe_split(pkt->data.frame.buf, pkt->data.frame.sz, frames, sizes,
				       VIDEO_MAX_SPATIAL + 5);
	if (n < 0)
		return n;
	/* Frame k is spatial layer sid[k]: the encoded ones in order. */
	int sid[VIDEO_MAX_SPATIAL + 5], m = 0;
	if (e->svc) {
		for (int s = 0; s < e->cfg.spatial && m < n; s++)
			if (pkt->data.frame.spatial_layer_encoded[s])
				sid[m++] = s;
	} else {
		sid[m++] = 0;
	}
	if (m != n) {
		LC_ERR("video", "superframe with %d frames for %d encoded layers", n, m);
		return LC_EPROTO;
	}
	if (e->in_seg == 0 && !(pkt->data.frame.flags & VPX_FRAME_IS_KEY))
		LC_WARN("video", "segment %llu does not start with a key frame",
			(unsigned long long)e->cur->desc.seq);
	if (e->in_seg == 0)
		e->cur->desc.key = pkt->data.frame.flags & VPX_FRAME_IS_KEY;
	for (int k = 0; k < n; k++) {
		e->bytes[sid[k]][tid] += sizes[k];
		int l = video_ladder_layer_of(&e->cfg.ladder, sid[k], tid);
		if (l < 0)
			continue; /* above the ladder's top: not sent */
		int rc = video__payload_add(&e->cur->payload[l], (uint16_t)e->in_seg, (uint8_t)sid[k],
					    (uint8_t)tid, frames[k], sizes[k]);
		if (rc)
			return rc;
	}
	return 0;
}

/* After a whole segment: compare each (spatial, cumulative temporal) rate
 * with its target and correct libvpx's targets for the next segment. The
 * step is damped (square root) and bounded, so it converges over a few
 * segments without oscillating. */
static void rate_loop(struct video_enc *e, int frames)
{
	const int S = e->cfg.spatial, T = e->cfg.temporal;
	if (!e->svc || frames < e->cfg.seg_frames)
		return;
	double secs = (double)frames * e->cfg.fps_den / e->cfg.fps_num;
	bool changed = false;
	for (int s = 0; s < S; s++) {
		double target_s = e->cfg.kbps[s] - (s ? e->cfg.kbps[s - 1] : 0);
		uint64_t cum = 0;
		unsigned prev = 0;
		for (int t = 0; t < T; t++) {
			cum += e->bytes[s][t];
			double got = (double)cum * 8 / secs / 1000;
			double want = target_s * temporal_share[T - 1][t];
			if (got > 0) {
				double c = e->corr[s][t] * sqrt(want / got);
				e->corr[s][t] = c < 0.5 ? 0.5 : c > 1.5 ? 1.5 : c;
			}
			unsigned v = (unsigned)(want * e->corr[s][t] + 0.5);
			if (v <= prev)
				v = prev + 1;
			if (v != e->vcfg.layer_target_bitrate[s * T + t])
				changed = true;
			e->vcfg.layer_target_bitrate[s * T + t] = v;
			prev = v;
		}
	}
	if (!changed)
		return;
	unsigned total = 0;
	for (int s = 0; s < S; s++)
		total += e->vcfg.layer_target_bitrate[s * T + T - 1];
	e->vcfg.rc_target_bitrate = total;
	if (S == 1)
		for (int t = 0; t < T; t++)
			e->vcfg.ts_target_bitrate[t] = e->vcfg.layer_target_bitrate[t];
	if (vpx_codec_enc_config_set(&e->codec, &e->vcfg) != VPX_CODEC_OK)
		LC_WARN("video", "rate update refused: %s", vpx_codec_error(&e->codec));
}

int video_enc_push(struct video_enc *e, const struct video_frame *f, struct video_segment **seg)
{
	*seg = NULL;
	if (f->width != e->cfg.width || f->height != e->cfg.height)
		return LC_EINVAL;
	int rc;
	if (!e->cur && (rc = seg_begin(e, f)))
		return rc;
	vpx_image_t img;
	memset(&img, 0, sizeof img);
	vpx_img_wrap(&img, VPX_IMG_FMT_I420, (unsigned)f->width, (unsigned)f->height, 1, f->plane[0]);
	for (int p = 0; p < 3; p++) {
		img.planes[p] = f->plane[p];
		img.stride[p] = f->stride[p];
	}
	vpx_enc_frame_flags_t flags = e->in_seg == 0 ? VPX_EFLAG_FORCE_KF : 0;
	if (vpx_codec_encode(&e->codec, &img, (vpx_codec_pts_t)e->pushed, 1, flags, VPX_DL_REALTIME)) {
		LC_ERR("video", "encode: %s", vpx_codec_error(&e->codec));
		return LC_EIO;
	}
	e->pushed++;
	int tid = 0;
	if (e->svc) {
		vpx_svc_layer_id_t lid;
		memset(&lid, 0, sizeof lid);
		if (vpx_codec_control(&e->codec, VP9E_GET_SVC_LAYER_ID, &lid) == VPX_CODEC_OK)
			tid = lid.temporal_layer_id;
		if (tid < 0 || tid >= e->cfg.temporal)
			return LC_EPROTO;
	}
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->codec, &it))) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
			continue;
		if (e->cb) {
			struct video_packet vp = {
				.data = pkt->data.frame.buf,
				.size = pkt->data.frame.sz,
				.temporal = tid,
				.key = pkt->data.frame.flags & VPX_FRAME_IS_KEY,
				.pts_us = f->pts_us,
				.number = f->number,
			};
			e->cb(&vp, e->cb_arg);
		}
		if ((rc = file_packet(e, pkt, tid)))
			return rc;
	}
	e->in_seg++;
	if (e->in_seg == e->cfg.seg_frames) {
		rate_loop(e, e->in_seg);
		memset(e->bytes, 0, sizeof e->bytes);
		*seg = seg_end(e);
		return 1;
	}
	return 0;
}

int video_enc_flush(struct video_enc *e, struct video_segment **seg)
{
	*seg = NULL;
	if (!e->cur || !e->in_seg)
		return 0;
	*seg = seg_end(e);
	return 1;
}
