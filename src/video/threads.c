/*
 * The two video threads. The source thread runs source -> encoder ->
 * segmenter and leaves finished segments in a bounded queue (a live stream
 * drops the oldest when nobody takes them). The decoder thread takes
 * segments, rebuilds and decodes the operating point, and leaves frames in
 * a bounded queue (the oldest dropped when the display falls behind). The
 * owner's calls take a mutex only for a queue operation and never wait on
 * the codec; each thread calls a notify callback so that an event loop can
 * wake up (lc_async_send).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "video/internal.h"

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

/* ---- source thread ------------------------------------------------------ */

struct video_pipe {
	struct video_pipe_cfg cfg;
	struct video_src *src;
	struct video_enc *enc;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;      /* stop requests and finish */
	bool stop;
	int status;               /* 0 running, 1 done, < 0 error */
	struct video_segment **q;
	int q_head, q_len;
	struct video_pipe_stats st;
};

static void pipe_put(struct video_pipe *p, struct video_segment *seg)
{
	struct video_segment *drop = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->q_len == p->cfg.queue) {
		drop = p->q[p->q_head];
		p->q_head = (p->q_head + 1) % p->cfg.queue;
		p->q_len--;
		p->st.dropped_segments++;
	}
	p->q[(p->q_head + p->q_len) % p->cfg.queue] = seg;
	p->q_len++;
	p->st.segments++;
	pthread_mutex_unlock(&p->mu);
	video_segment_free(drop);
	if (p->cfg.notify)
		p->cfg.notify(p->cfg.notify_arg);
}

static void *pipe_main(void *arg)
{
	struct video_pipe *p = arg;
	struct video_frame f = { 0 };
	int rc = 0;
	int fn, fd;
	video_src_info(p->src, NULL, NULL, &fn, &fd);
	const bool pace = p->cfg.realtime && video_src_needs_pacing(p->src);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (uint64_t n = 0; !p->cfg.max_frames || n < p->cfg.max_frames; n++) {
		pthread_mutex_lock(&p->mu);
		if (pace && !p->stop) {
			/* Due time of frame n; waiting on the condition lets stop cut it short. */
			uint64_t due_ns = n * 1000000000ULL * (uint64_t)fd / (uint64_t)fn;
			struct timespec due = start;
			due.tv_sec += (time_t)(due_ns / 1000000000ULL);
			due.tv_nsec += (long)(due_ns % 1000000000ULL);
			if (due.tv_nsec >= 1000000000L) {
				due.tv_sec++;
				due.tv_nsec -= 1000000000L;
			}
			while (!p->stop && pthread_cond_timedwait(&p->cond, &p->mu, &due) == 0)
				;
		}
		bool stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		rc = video_src_read(p->src, &f);
		if (rc == LC_ECLOSED) {
			rc = 0;
			break;
		}
		if (rc) {
			LC_ERR("video", "source: %s", video_src_error(p->src));
			break;
		}
		struct video_segment *seg = NULL;
		rc = video_enc_push(p->enc, &f, &seg);
		if (rc < 0)
			break;
		rc = 0;
		pthread_mutex_lock(&p->mu);
		p->st.frames++;
		p->st.enc_cpu_s = thread_cpu_s();
		pthread_mutex_unlock(&p->mu);
		if (seg)
			pipe_put(p, seg);
	}
	if (!rc) {
		struct video_segment *seg = NULL;
		if (video_enc_flush(p->enc, &seg) == 1)
			pipe_put(p, seg);
	}
	video_frame_free(&f);
	pthread_mutex_lock(&p->mu);
	p->status = rc ? rc : 1;
	p->st.enc_cpu_s = thread_cpu_s();
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	if (p->cfg.notify)
		p->cfg.notify(p->cfg.notify_arg);
	return NULL;
}

int video_pipe_start(struct video_pipe **out, const struct video_pipe_cfg *cfg, char *err, size_t errlen)
{
	*out = NULL;
	struct video_pipe *p = calloc(1, sizeof *p);
	if (!p)
		return LC_ENOMEM;
	p->cfg = *cfg;
	if (p->cfg.queue <= 0)
		p->cfg.queue = 8;
	pthread_mutex_init(&p->mu, NULL);
	cond_init_mono(&p->cond);
	int rc = LC_ENOMEM;
	p->q = calloc((size_t)p->cfg.queue, sizeof *p->q);
	if (!p->q)
		goto fail;
	if ((rc = video_src_open(&p->src, &cfg->src, err, errlen)))
		goto fail;
	int w, h, fn, fd;
	video_src_info(p->src, &w, &h, &fn, &fd);
	struct video_enc_cfg ec;
	if (cfg->enc_set) {
		ec = cfg->enc;
		ec.width = w;
		ec.height = h;
		ec.fps_num = fn;
		ec.fps_den = fd;
	} else {
		video_enc_cfg_default(&ec, w, h, fn, fd);
	}
	if ((rc = video_enc_new(&p->enc, &ec))) {
		if (err && errlen)
			snprintf(err, errlen, "encoder: %s", lc_strerror(rc));
		goto fail;
	}
	if (pthread_create(&p->thread, NULL, pipe_main, p)) {
		rc = LC_EIO;
		goto fail;
	}
	p->started = true;
	*out = p;
	return 0;
fail:
	video_pipe_free(p);
	return rc;
}

struct video_segment *video_pipe_pop(struct video_pipe *p)
{
	struct video_segment *seg = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->q_len) {
		seg = p->q[p->q_head];
		p->q_head = (p->q_head + 1) % p->cfg.queue;
		p->q_len--;
	}
	pthread_mutex_unlock(&p->mu);
	return seg;
}

int video_pipe_status(struct video_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	int s = p->status;
	pthread_mutex_unlock(&p->mu);
	return s;
}

int video_pipe_wait(struct video_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->status == 0)
		pthread_cond_wait(&p->cond, &p->mu);
	int s = p->status;
	pthread_mutex_unlock(&p->mu);
	return s;
}

void video_pipe_get_stats(struct video_pipe *p, struct video_pipe_stats *st)
{
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	pthread_mutex_unlock(&p->mu);
}

void video_pipe_free(struct video_pipe *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	if (p->q) {
		for (int i = 0; i < p->q_len; i++)
			video_segment_free(p->q[(p->q_head + i) % p->cfg.queue]);
		free(p->q);
	}
	video_enc_free(p->enc);
	video_src_close(p->src);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* ---- decoder thread ----------------------------------------------------- */

struct player_job {
	struct video_seg_desc desc;
	uint8_t *payload[VIDEO_MAX_LAYERS];
	size_t len[VIDEO_MAX_LAYERS];
	int want;
};

struct video_player {
	struct video_player_cfg cfg;
	struct video_dec *dec;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t work;      /* a job or stop */
	pthread_cond_t idle;      /* queue empty and not busy */
	pthread_cond_t room;      /* a frame was taken (block_when_full) */
	bool stop, busy;
	struct player_job *jobs;
	int j_head, j_len;
	struct video_frame *frames;
	int f_head, f_len;
	struct video_player_stats st;
};

static void job_free(struct player_job *j)
{
	for (int l = 0; l < VIDEO_MAX_LAYERS; l++)
		free(j->payload[l]);
	memset(j, 0, sizeof *j);
}

/* Decoder callback on the decoder thread: copy the frame into the queue. */
static void player_frame(const struct video_frame *f, void *arg)
{
	struct video_player *p = arg;
	struct video_frame copy = { 0 };
	if (video_frame_copy(&copy, f))
		return;
	pthread_mutex_lock(&p->mu);
	while (p->cfg.block_when_full && p->f_len == p->cfg.out_queue && !p->stop)
		pthread_cond_wait(&p->room, &p->mu);
	if (p->f_len == p->cfg.out_queue) {
		video_frame_free(&p->frames[p->f_head]);
		p->f_head = (p->f_head + 1) % p->cfg.out_queue;
		p->f_len--;
		p->st.dropped_frames++;
	}
	p->frames[(p->f_head + p->f_len) % p->cfg.out_queue] = copy;
	p->f_len++;
	p->st.frames++;
	pthread_mutex_unlock(&p->mu);
	if (p->cfg.notify)
		p->cfg.notify(p->cfg.notify_arg);
}

static void *player_main(void *arg)
{
	struct video_player *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && !p->j_len)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		struct player_job job = p->jobs[p->j_head];
		memset(&p->jobs[p->j_head], 0, sizeof job);
		p->j_head = (p->j_head + 1) % p->cfg.in_queue;
		p->j_len--;
		p->busy = true;
		pthread_mutex_unlock(&p->mu);

		int used = -1;
		int rc = video_dec_segment(p->dec, &job.desc, (const uint8_t *const *)job.payload,
					   job.len, job.want, player_frame, p, &used);
		job_free(&job);

		pthread_mutex_lock(&p->mu);
		p->busy = false;
		p->st.segments++;
		p->st.last_layer = used;
		if (rc) {
			p->st.errors++;
			p->st.last_error = rc;
			if (used >= 0)
				p->st.fallbacks++;
		}
		if (!p->j_len)
			pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

int video_player_new(struct video_player **out, const struct video_player_cfg *cfg)
{
	*out = NULL;
	struct video_player *p = calloc(1, sizeof *p);
	if (!p)
		return LC_ENOMEM;
	p->cfg = *cfg;
	if (p->cfg.in_queue <= 0)
		p->cfg.in_queue = 4;
	if (p->cfg.out_queue <= 0)
		p->cfg.out_queue = 16;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	pthread_cond_init(&p->room, NULL);
	p->st.last_layer = -1;
	int rc = LC_ENOMEM;
	p->jobs = calloc((size_t)p->cfg.in_queue, sizeof *p->jobs);
	p->frames = calloc((size_t)p->cfg.out_queue, sizeof *p->frames);
	if (!p->jobs || !p->frames)
		goto fail;
	if ((rc = video_dec_new(&p->dec, cfg->threads)))
		goto fail;
	if (pthread_create(&p->thread, NULL, player_main, p)) {
		rc = LC_EIO;
		goto fail;
	}
	p->started = true;
	*out = p;
	return 0;
fail:
	video_player_free(p);
	return rc;
}

int video_player_submit(struct video_player *p, const struct video_seg_desc *d,
			const uint8_t *const *payload, const size_t *len, int want)
{
	if (want < 0 || want >= d->n_layers)
		return LC_ERANGE;
	struct player_job job;
	memset(&job, 0, sizeof job);
	job.desc = *d;
	job.want = want;
	for (int l = 0; l <= want; l++) {
		if (!payload[l] || !len[l])
			continue;
		job.payload[l] = malloc(len[l]);
		if (!job.payload[l]) {
			job_free(&job);
			return LC_ENOMEM;
		}
		memcpy(job.payload[l], payload[l], len[l]);
		job.len[l] = len[l];
	}
	pthread_mutex_lock(&p->mu);
	if (p->j_len == p->cfg.in_queue) {
		pthread_mutex_unlock(&p->mu);
		job_free(&job);
		return LC_EFULL;
	}
	p->jobs[(p->j_head + p->j_len) % p->cfg.in_queue] = job;
	p->j_len++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int video_player_pop(struct video_player *p, struct video_frame *f)
{
	pthread_mutex_lock(&p->mu);
	if (!p->f_len) {
		pthread_mutex_unlock(&p->mu);
		return LC_EAGAIN;
	}
	video_frame_free(f);
	*f = p->frames[p->f_head];
	memset(&p->frames[p->f_head], 0, sizeof *f);
	p->f_head = (p->f_head + 1) % p->cfg.out_queue;
	p->f_len--;
	pthread_cond_signal(&p->room);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void video_player_drain(struct video_player *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->j_len || p->busy)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void video_player_get_stats(struct video_player *p, struct video_player_stats *st)
{
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	pthread_mutex_unlock(&p->mu);
}

void video_player_free(struct video_player *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->work);
		pthread_cond_broadcast(&p->room);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	if (p->jobs) {
		for (int i = 0; i < p->j_len; i++)
			job_free(&p->jobs[(p->j_head + i) % p->cfg.in_queue]);
		free(p->jobs);
	}
	if (p->frames) {
		for (int i = 0; i < p->f_len; i++)
			video_frame_free(&p->frames[(p->f_head + i) % p->cfg.out_queue]);
		free(p->frames);
	}
	video_dec_free(p->dec);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->room);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
