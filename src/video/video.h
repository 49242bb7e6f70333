/*
 * video: the scalable video pipeline (the only module that includes libvpx).
 *
 *   source (test scene | Y4M file | V4L2 camera), I420 frames with timestamps
 *     -> VP9 SVC encoder: realtime CBR, S spatial x T temporal layers
 *        (default 3x3), error resilient, no frame dropping, a forced key
 *        frame at the start of every segment
 *     -> segmenter: one byte payload per segment and ladder layer (the input
 *        of one network-coding generation) plus a segment descriptor
 *   ... network ...
 *     -> reassembly: layers 0..l of a segment rebuild operating point l
 *        (frames above it dropped, superframe indexes rebuilt)
 *     -> VP9 decoder (on its own thread) -> frames at that layer's size/rate.
 *
 * Layer ladder. Every encoded frame has a spatial id s (its position in the
 * superframe) and a temporal id t (from the encoder, the 0212 pattern that
 * restarts at each key frame). Ladder entry l is an operating point
 * (S <= s_l, T <= t_l); entries are nested (s and t never decrease, and one
 * of them grows). Ladder layer l carries the frames inside operating point l
 * but outside operating point l-1, so layer l is useful only with 0..l-1.
 * Default: L0 = S0 T0-T1, L1 = S0 T2, L2 = S1, L3 = S2.
 *
 * Per-layer payload (big-endian; parsed from untrusted bytes):
 *   u8 version (1), u8 layer, u16 record count, then per record
 *   u16 frame index in segment, u8 spatial id, u8 temporal id, u32 length,
 *   length bytes of one VP9 frame. Records are sorted by (index, spatial),
 *   strictly increasing; nothing may follow the last record.
 *
 * Segment descriptor (big-endian, 36 + 28 * layers bytes):
 *   u8 version (1), u8 flags (bit 0: starts with a key frame), u8 layers,
 *   u8 0, u64 segment number, u64 pts of the first frame (us), u64 capture
 *   wall-clock time of the first frame (us since the epoch), u32 duration
 *   (us), u16 frame count, u16 0, then per layer: u32 payload size,
 *   u64 payload hash (64-bit FNV-1a over the payload bytes: it catches
 *   corruption, it is not a defence against forgery), u16 width, u16 height,
 *   u32 frame-rate numerator, u32 denominator, u8 s, u8 t, u16 0.
 *
 * Threads: video_pipe runs source -> encoder -> segmenter on a source
 * thread; video_player runs reassembly + decode on a decoder thread. Both
 * hand results over through bounded queues guarded by a mutex, never block
 * the caller, and call a notify callback (e.g. lc_async_send) when there is
 * something to take. Everything else is single-threaded per object.
 */
#ifndef LC_VIDEO_H
#define LC_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

#define VIDEO_MAX_SPATIAL 3
#define VIDEO_MAX_TEMPORAL 3
#define VIDEO_MAX_LAYERS 9          /* ladder entries */
#define VIDEO_MAX_DIM 16384
#define VIDEO_MAX_SEG_FRAMES 1024   /* superframes in one segment */
#define VIDEO_PAYLOAD_VERSION 1
#define VIDEO_DESC_VERSION 1
#define VIDEO_DESC_MAX (36 + 28 * VIDEO_MAX_LAYERS)

/* ---- frames ------------------------------------------------------------- */

/* An I420 picture. Chroma planes are ((w+1)/2) x ((h+1)/2). */
struct video_frame {
	int width, height;
	uint8_t *plane[3];
	int stride[3];
	int64_t pts_us;      /* presentation time from the stream start */
	int64_t wall_us;     /* capture wall-clock time (us since the epoch) */
	uint64_t number;     /* frame number since the source started */
	/* Decoded frames only: where it came from. */
	uint64_t segment;
	int index;           /* superframe index within the segment */
	int layer;           /* ladder layer (operating point) decoded */
	void *mem;           /* owned pixel memory (NULL: planes borrowed) */
};

/* Allocate (or reallocate) f for w x h; timestamps are zeroed. */
int video_frame_alloc(struct video_frame *f, int w, int h);
void video_frame_free(struct video_frame *f);
/* Copy pixels and timestamps; dst is (re)allocated to src's size. */
int video_frame_copy(struct video_frame *dst, const struct video_frame *src);
/* Pixels equal (sizes equal and every plane byte equal)? */
bool video_frame_equal(const struct video_frame *a, const struct video_frame *b);
/*
 * Resample src into dst's size (dst allocated by the caller). Downscaling
 * averages the source area each output pixel covers (box filter: exact
 * 2x2 / 4x4 means for the ladder's 1/2 and 1/4 sizes); upscaling is
 * bilinear with pixel centres aligned.
 */
void video_frame_scale(struct video_frame *dst, const struct video_frame *src);

/* ---- quality ----------------------------------------------------------- */

/* Sum of squared errors per plane; PSNR from them. */
struct video_sse {
	uint64_t sse[3];
	uint64_t count[3];   /* samples */
	uint64_t frames;
};
/* Add the squared error of a against b (same size) to acc. */
int video_sse_add(struct video_sse *acc, const struct video_frame *a, const struct video_frame *b);
/* PSNR (dB) of plane 0..2, or of all samples (plane -1); 99 if lossless. */
double video_sse_psnr(const struct video_sse *acc, int plane);
/* Y-PSNR of one frame pair (same size). */
double video_psnr_y(const struct video_frame *a, const struct video_frame *b);

/* ---- sources ------------------------------------------------------------ */

enum video_src_kind { VIDEO_SRC_PATTERN, VIDEO_SRC_Y4M, VIDEO_SRC_V4L2 };

struct video_src_cfg {
	enum video_src_kind kind;
	const char *path;        /* Y4M file or /dev/videoN */
	int width, height;       /* pattern and camera (camera: a request) */
	int fps_num, fps_den;    /* pattern and camera; Y4M: from the file */
	bool loop;               /* Y4M: start again at the end */
};

struct video_src;

/* Defaults: the test scene, 1280x720, 30/1 fps, looping. */
void video_src_cfg_default(struct video_src_cfg *c);
/*
 * Open a source. On failure a negative code is returned and, when err is
 * not NULL, a one-line reason is written to err (e.g. "y4m: colour space
 * C444 not supported (only 4:2:0 8-bit)").
 */
int video_src_open(struct video_src **out, const struct video_src_cfg *cfg,
		   char *err, size_t errlen);
/* A Y4M stream from an open FILE (not closed by the source) or memory. */
int video_src_open_y4m_file(struct video_src **out, FILE *f, bool loop, char *err, size_t errlen);
int video_src_open_y4m_mem(struct video_src **out, const void *data, size_t len, bool loop,
			   char *err, size_t errlen);
/*
 * Next frame into f ((re)allocated to the source size). Returns 0,
 * LC_ECLOSED at the end of a non-looping file, LC_ETRUNC for a truncated
 * frame, LC_EPROTO for a bad frame header, LC_EIO/LC_ETIMEDOUT for camera
 * errors. The reason is kept in video_src_error().
 */
int video_src_read(struct video_src *s, struct video_frame *f);
void video_src_info(const struct video_src *s, int *w, int *h, int *fps_num, int *fps_den);
const char *video_src_error(const struct video_src *s);
/* Pace frames (true for pattern and Y4M, the camera paces itself). */
bool video_src_needs_pacing(const struct video_src *s);
void video_src_close(struct video_src *s);

/* Draw the test scene for frame `number` at time wall_us into f. */
/* The 5x7 font of the test scene's text (one byte per row, bit 4 = the
 * leftmost column); lower case as upper, an unknown character as '?'. */
const uint8_t *video_glyph(char c);

void video_pattern_draw(struct video_frame *f, uint64_t number, int fps_num, int fps_den,
			int64_t wall_us);
/* Draw text (ASCII 32..126, built-in 5x7 font) scaled by `scale`. */
void video_draw_text(struct video_frame *f, int x, int y, int scale, uint8_t luma,
		     const char *text);

/* ---- layer ladder ------------------------------------------------------- */

struct video_ladder {
	int n;
	struct { uint8_t s, t; } op[VIDEO_MAX_LAYERS];
};

/* L0 = S0 T0-T1, L1 = S0 T2, L2 = S1, L3 = S2 (clipped to S x T layers). */
void video_ladder_default(struct video_ladder *l, int spatial, int temporal);
/* Parse "S0T1,S0T2,S1T2,S2T2". */
int video_ladder_parse(struct video_ladder *l, const char *text);
/* Nested and inside S x T? */
int video_ladder_check(const struct video_ladder *l, int spatial, int temporal);
/* Ladder layer that carries frame (s, t), or -1 if above the top. */
int video_ladder_layer_of(const struct video_ladder *l, int s, int t);

/* ---- encoder + segmenter ------------------------------------------------ */

struct video_enc_cfg {
	int width, height;       /* input (= top spatial layer) */
	int fps_num, fps_den;
	int spatial, temporal;   /* 1..3 each */
	int kbps[VIDEO_MAX_SPATIAL]; /* cumulative target up to spatial layer s */
	int seg_frames;          /* frames per segment; key frame at each start */
	int speed;               /* VP8E_SET_CPUUSED, 5..9 */
	int threads;             /* encoder threads */
	int inter_layer_pred;    /* VP9E_SET_SVC_INTER_LAYER_PRED: 0 on, 1 off, 2 key frames */
	struct video_ladder ladder;
};

/*
 * Defaults for an input size and rate: 3x3 layers (fewer spatial layers
 * when the input is small), kbps 300/900/2500 at 720p (scaled with the
 * pixel count elsewhere), 1 s segments, speed 7 (9 above 640x360, to keep 720p30
 * within a third of a core), one
 * thread, inter-layer prediction on, the default ladder.
 */
void video_enc_cfg_default(struct video_enc_cfg *c, int w, int h, int fps_num, int fps_den);
/* Layer size as libvpx computes it (scaled by 2^-(S-1-s), rounded up to even). */
void video_enc_layer_size(const struct video_enc_cfg *c, int s, int *w, int *h);
/* Target bitrate (kbps) of operating point (S <= s, T <= t). */
double video_enc_op_kbps(const struct video_enc_cfg *c, int s, int t);

/* One finished segment: descriptor and one payload per ladder layer. */
struct video_seg_layer {
	uint32_t size;
	uint64_t hash;
	uint16_t width, height;
	uint32_t fps_num, fps_den;
	uint8_t s, t;
};
struct video_seg_desc {
	uint64_t seq;
	int64_t pts_us;
	int64_t wall_us;
	uint32_t duration_us;
	uint16_t n_frames;
	bool key;
	uint8_t n_layers;
	struct video_seg_layer layer[VIDEO_MAX_LAYERS];
};
struct video_segment {
	struct video_seg_desc desc;
	struct lc_buf payload[VIDEO_MAX_LAYERS];
};
void video_segment_free(struct video_segment *seg);

/* One encoded superframe as the encoder gave it (for references and tools). */
struct video_packet {
	const uint8_t *data;
	size_t size;
	int temporal;
	bool key;
	int64_t pts_us;
	uint64_t number;         /* source frame number */
};
typedef void (*video_packet_cb)(const struct video_packet *p, void *arg);

struct video_enc;

int video_enc_new(struct video_enc **out, const struct video_enc_cfg *cfg);
void video_enc_free(struct video_enc *e);
/* Optional tap on every superframe (called inside video_enc_push). */
void video_enc_set_packet_cb(struct video_enc *e, video_packet_cb cb, void *arg);
/*
 * Encode one source frame. When it completes a segment, *seg receives it
 * (caller frees with video_segment_free) and 1 is returned; else 0.
 */
int video_enc_push(struct video_enc *e, const struct video_frame *f, struct video_segment **seg);
/* Close the current partial segment (0 if empty, 1 with *seg). */
int video_enc_flush(struct video_enc *e, struct video_segment **seg);
const struct video_enc_cfg *video_enc_cfg(const struct video_enc *e);

/* 64-bit FNV-1a. */
uint64_t video_hash64(const void *p, size_t n);

/* Descriptor wire form: returns bytes written (<= cap) or LC_E*. */
int video_desc_write(const struct video_seg_desc *d, uint8_t *p, size_t cap);
int video_desc_parse(struct video_seg_desc *d, const uint8_t *p, size_t len);

/* One frame record of a payload; data points into the parsed buffer. */
struct video_frame_ref {
	uint16_t index;
	uint8_t s, t;
	uint32_t len;
	const uint8_t *data;
};
struct video_payload {
	uint8_t layer;
	size_t n;
	struct video_frame_ref *rec;   /* n records, heap */
};
/* Serialise records (sorted by index, s) into b (appended). */
int video_payload_write(struct lc_buf *b, uint8_t layer, const struct video_frame_ref *rec, size_t n);
/*
 * Parse untrusted bytes. LC_ETRUNC: shorter than declared; LC_EVERSION;
 * LC_EPROTO: bad order, zero length, trailing bytes; LC_ERANGE: ids out of
 * range. Memory used is bounded by len. Free with video_payload_free.
 */
int video_payload_parse(struct video_payload *out, const uint8_t *p, size_t len);
void video_payload_free(struct video_payload *pl);

/* ---- reassembly + decode ------------------------------------------------ */

/* Split a superframe into its frames (no index: one frame). Returns count. */
int video_superframe_split(const uint8_t *p, size_t len, const uint8_t **frames,
			   size_t *sizes, int max);
/* Build a superframe (frames + index) into b (reset first). */
int video_superframe_build(struct lc_buf *b, const uint8_t *const *frames,
			   const size_t *sizes, int n);

/* An operating point rebuilt from layers 0..l: one superframe per shown frame. */
struct video_op_frame {
	uint16_t index;
	uint8_t t;
	size_t off, len;      /* into video_op.data */
};
struct video_op {
	int layer;            /* layers 0..layer used */
	struct lc_buf data;
	size_t n;
	struct video_op_frame frame[VIDEO_MAX_SEG_FRAMES];
};
/*
 * Rebuild operating point `want` of a segment from payload[0..want]
 * (payload[l] NULL or len 0: missing). Each layer is checked against the
 * descriptor (size, hash), parsed and checked against the ladder; the
 * first bad layer stops the prefix. Returns 0 when `want` was rebuilt, or
 * the error of the first bad layer with op->layer set to the last good
 * layer (op->layer = -1 and op empty when layer 0 is bad).
 */
int video_op_build(struct video_op *op, const struct video_seg_desc *d,
		   const uint8_t *const *payload, const size_t *len, int want);
void video_op_init(struct video_op *op);
void video_op_free(struct video_op *op);

typedef void (*video_frame_cb)(const struct video_frame *f, void *arg);

struct video_dec;
int video_dec_new(struct video_dec **out, int threads);
void video_dec_free(struct video_dec *d);
/* Decode one compressed (super)frame; cb gets the shown frame (borrowed planes). */
int video_dec_frame(struct video_dec *d, const uint8_t *p, size_t len, video_frame_cb cb, void *arg);
/* Decode only spatial layers 0..s of each superframe (-1: all). */
int video_dec_set_spatial(struct video_dec *d, int s);
/*
 * Rebuild and decode operating point `want` of a segment. Frames go to cb
 * with segment/index/layer set. Returns 0, or the error that made it fall
 * back to a lower layer (*used = layer decoded, -1 if none). A decode error
 * in layer l makes it restart the segment at l-1, giving only frames not yet
 * given.
 */
int video_dec_segment(struct video_dec *d, const struct video_seg_desc *desc,
		      const uint8_t *const *payload, const size_t *len, int want,
		      video_frame_cb cb, void *arg, int *used);

/* ---- operating-point quality -------------------------------------------- */

/*
 * Quality of every ladder layer against the source, segment by segment.
 * Each layer l is decoded from layers 0..l alone (its own decoder).
 *  - native: each decoded frame against the source frame of the same
 *    index, downscaled to the layer's size with the box filter of
 *    video_frame_scale;
 *  - full: the decoded frame upscaled (bilinear) to the source size,
 *    against every source frame, the last decoded frame held for frames a
 *    lower temporal layer does not have: what a viewer of that layer sees,
 *    comparable across layers.
 */
struct video_eval_layer {
	int width, height;
	double fps;
	double kbps;              /* operating point: layers 0..l */
	struct video_sse native, full;
	uint64_t frames;          /* decoded */
	double dec_cpu_s;         /* decoder CPU time for this layer */
	int errors;
};
struct video_eval;
int video_eval_new(struct video_eval **out, int n_layers);
void video_eval_free(struct video_eval *ev);
/* One segment and its source frames src[0..n-1] (n = desc.n_frames). */
int video_eval_segment(struct video_eval *ev, const struct video_segment *seg,
		       const struct video_frame *src, int n);
/* Results so far for layer l (kbps over the segments' total duration). */
int video_eval_result(const struct video_eval *ev, int l, struct video_eval_layer *out);

/* ---- threads ------------------------------------------------------------ */

typedef void (*video_notify_cb)(void *arg);

struct video_pipe_cfg {
	struct video_src_cfg src;
	struct video_enc_cfg enc;   /* width/height/fps taken from the source */
	bool enc_set;               /* false: video_enc_cfg_default for the source */
	bool realtime;              /* pace the source at its frame rate */
	uint64_t max_frames;        /* stop after this many (0: run until stopped) */
	int queue;                  /* segments kept; oldest dropped (default 8) */
	video_notify_cb notify;     /* called on the source thread */
	void *notify_arg;
};
struct video_pipe_stats {
	uint64_t frames, segments, dropped_segments;
	double enc_cpu_s;           /* source thread CPU time */
};
struct video_pipe;
int video_pipe_start(struct video_pipe **out, const struct video_pipe_cfg *cfg,
		     char *err, size_t errlen);
/* Next finished segment or NULL; never blocks. */
struct video_segment *video_pipe_pop(struct video_pipe *p);
/* 0 running, 1 finished (max_frames or end of file), < 0 failed. */
int video_pipe_status(struct video_pipe *p);
/* Wait until the thread has finished (max_frames or error). */
int video_pipe_wait(struct video_pipe *p);
void video_pipe_get_stats(struct video_pipe *p, struct video_pipe_stats *st);
/* Stop the thread and free everything. */
void video_pipe_free(struct video_pipe *p);

struct video_player_cfg {
	int threads;                /* decoder threads */
	int in_queue;               /* segments waiting (default 4) */
	int out_queue;              /* frames kept; oldest dropped (default 16) */
	bool block_when_full;       /* instead, the decoder waits for video_player_pop */
	video_notify_cb notify;     /* called on the decoder thread */
	void *notify_arg;
};
struct video_player_stats {
	uint64_t segments, frames, dropped_frames, errors, fallbacks;
	int last_error;
	int last_layer;
};
struct video_player;
int video_player_new(struct video_player **out, const struct video_player_cfg *cfg);
/* Queue layers 0..want of a segment (copied). LC_EFULL if the queue is full. */
int video_player_submit(struct video_player *p, const struct video_seg_desc *d,
			const uint8_t *const *payload, const size_t *len, int want);
/* Take the oldest decoded frame (ownership moves to f); LC_EAGAIN if none. */
int video_player_pop(struct video_player *p, struct video_frame *f);
/* Block until every submitted segment has been decoded. */
void video_player_drain(struct video_player *p);
void video_player_get_stats(struct video_player *p, struct video_player_stats *st);
void video_player_free(struct video_player *p);

#endif
