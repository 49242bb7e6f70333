/*
 * engine: one layercast peer on its own thread. It owns one libev loop and
 * wires every module on it:
 *
 *   net (WebSocket links + HTTP on one port)
 *     -> wire_decode -> HELLO/PEERS/PING/PONG/BYE: swarm (membership)
 *                    -> the others, on neighbour links only: sched (AQCS)
 *   swarm ops: dial (one-shot: swarm has its own redial policy), send, close
 *              (after the queued BYE is written), nbr_up/down -> sched
 *   sched ops: send, room (about 50 ms of the upload cap queued over all
 *              links, one message on an idle node, a per-link cap), play
 *              -> statistics and, with decoding, the video_player thread
 *   source: video_pipe thread -> lc_async -> sched_add_segment
 *   a 10 ms timer: swarm_tick, sched_tick, sched_pump, deferred closes;
 *   a 250 ms timer: the statistics snapshot.
 *
 * Links are named for swarm and sched by uint32 handles (1, 2, ...; never
 * reused) kept in the net_link's user pointer.
 *
 * Threads. engine_start() returns once the engine thread has created
 * everything (or failed: the reason is written to err). Other threads talk
 * to the engine only through the command queue (engine_command: a mutex and
 * an lc_async wake-up) and read it only through the snapshot
 * (engine_snapshot: a copy taken under a mutex, refreshed 4 times a second
 * on the engine thread). The snapshot is also served on /stats.json and
 * /metrics by net's http_provider.
 *
 * Playback statistics (per peer): continuity = segments whose base layer
 * was complete at its deadline / segments whose deadline passed since
 * start-up; stalls; start-up delay (engine start to first play);
 * source-to-screen lag (wall clock at the deadline - capture time) p50/p95
 * over the played segments; per-layer hash checks of every played payload
 * against the source's SEGMENT descriptor.
 */
#ifndef LC_ENGINE_H
#define LC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "wire/wire.h"

#define ENGINE_MAX_NBRS 64
#define ENGINE_LAG_SAMPLES 4096

enum engine_input { ENGINE_INPUT_PATTERN, ENGINE_INPUT_Y4M };

struct engine_config {
	bool source;              /* encode and serve a stream (also the tracker) */
	bool tracker;             /* a peer that also serves as tracker */
	const char *listen_host;  /* NULL: every interface */
	int listen_port;          /* 0: any free port */
	const char *advertise_host; /* NULL: listen_host if set, else "seen" */
	const char *join_host;    /* a peer: the address dialled first */
	uint16_t join_port;
	uint32_t up_kbps;         /* upload cap (0: unlimited) */
	uint32_t down_kbps;       /* download capacity (0: unlimited) */
	bool enforce_download;    /* also cap reading at down_kbps (net pauses reads) */
	int max_layer;            /* layer cap 0..7 (-1: none) */
	bool no_coding;           /* plain chunks (comparison mode) */
	bool single_layer;        /* source: one-layer encode (comparison mode) */
	bool decode;              /* peer: decode on a video_player thread */
	bool display;             /* with decode: keep the decoded frames for
				   * engine_pop_frame (the decoder waits while
				   * about two segments of frames are unread) */
	/* Source input. */
	enum engine_input input;
	const char *input_path;   /* Y4M file */
	int width, height, fps;   /* test scene (0: 640x360, 30) */
	uint64_t seed;            /* 0: from the OS */
	unsigned max_neighbours;  /* 0: 32 for a peer, 60 for the source */
	const char *stream;       /* stream id (NULL: "layercast") */
	int64_t buffer_us;        /* playout buffer (0: sched's default) */
};

void engine_config_default(struct engine_config *c);

/* Per neighbour. */
struct engine_nbr_stats {
	uint64_t peer_id;
	char addr[WIRE_HOST_MAX + 8]; /* advertised host:port (or the address seen) */
	bool dialled;
	uint8_t role;
	double rtt_ms;            /* swarm's smoothed PING RTT, -1 none yet */
	double up_kbps, down_kbps;/* measured on the link (last ~2 s) */
	uint32_t adv_up_kbps;     /* advertised in HELLO */
	size_t queue_bytes;
	int sub_level;            /* layers 0..sub_level it takes from us (-1: none) */
	uint64_t blocks_in, blocks_out; /* BLOCKs from it / to it */
	double innovative_share;  /* innovative blocks / blocks from it (-1: none yet) */
	char state[8];            /* "up", "closing" (BYE queued, closing after it) */
};

/* Per layer. */
struct engine_layer_stats {
	double in_kbps;           /* innovative payload received (peer) or produced (source) */
	uint64_t bytes_in;
	uint64_t gens_done, gens_missed;
	uint64_t hash_ok, hash_bad; /* played payloads checked against the source hash */
	unsigned rank[3], k[3];   /* progress of the 3 newest segments */
	double rate_kbps;         /* the stream's rate of this layer (descriptors) */
	int width, height;        /* picture size of the operating point 0..l */
	double fps;
};

struct engine_stats {
	uint64_t peer_id;
	bool source;
	int port;
	bool running;             /* the engine thread is still looping */
	bool joined;
	double uptime_s;
	/* playback */
	bool started;
	int64_t startup_ms;       /* -1: not yet */
	uint64_t segments_played, segments_ok, stalls;
	double continuity;        /* 1 before any deadline */
	double lag_ms_p50, lag_ms_p95; /* -1: no sample */
	double played_kbps;       /* mean bit rate of the played operating points */
	int level, playing_level, layer_final;
	int nlayers;              /* layers in the stream (from descriptors) */
	int cap;                  /* layer cap (-1: none) */
	double buffer_ms;         /* media held complete ahead of the play point */
	char stream[32];
	char addr[WIRE_HOST_MAX + 8]; /* own advertised host:port */
	/* traffic */
	double upload_kbps_used;  /* average since start */
	double upload_kbps_now, download_kbps_now;
	uint32_t up_cap_kbps, down_cap_kbps;
	uint64_t blocks_in, blocks_dup, blocks_out;
	double non_innovative_ratio; /* blocks_dup / blocks_in */
	double overhead;          /* (message bytes - block payload bytes) / message bytes */
	uint64_t bytes_sent, bytes_received;
	uint64_t tx_type[WIRE_TYPE_MAX + 1]; /* message bytes sent, by wire type (index 0 unused) */
	uint64_t decode_errors;   /* wire_decode failures (link closed) */
	uint64_t hash_failures;   /* sched's own hash check */
	uint64_t segments_produced; /* source */
	/* decoder (--decode) */
	uint64_t frames_decoded, decode_fallbacks;
	/* membership */
	unsigned neighbours;
	uint64_t joins, leaves, failures;
	uint32_t joins_1m, leaves_1m, failures_1m;
	unsigned known;
	struct engine_layer_stats layer[WIRE_LAYERS_MAX];
	unsigned n_nbrs;
	struct engine_nbr_stats nbr[ENGINE_MAX_NBRS];
};

enum engine_cmd_kind { ENGINE_CMD_JOIN, ENGINE_CMD_LEAVE, ENGINE_CMD_SET_CAP, ENGINE_CMD_QUIT };

struct engine;

/* Start the engine thread. Returns 0, or a negative LC_E* with a one-line
 * reason in err (bad option, port taken, unreadable input, ...). */
int engine_start(const struct engine_config *cfg, struct engine **out, char *err, size_t errlen);
/* Queue a command (any thread). arg: the layer cap for SET_CAP (-1: none).
 * QUIT sends BYE on every link, closes them with 1000 and ends the thread.
 * LC_ESTATE once the engine has stopped. */
int engine_command(struct engine *e, enum engine_cmd_kind kind, int arg);
/* Copy the latest snapshot (any thread). */
void engine_snapshot(struct engine *e, struct engine_stats *out);
/* Wait until the engine thread has ended (after QUIT or a fatal error),
 * at most timeout_s (< 0: forever). true if it has ended. */
bool engine_wait(struct engine *e, double timeout_s);
/* Take the oldest decoded frame not yet taken (config.display; ownership
 * moves to f, whose earlier pixels are freed). LC_EAGAIN if none. */
struct video_frame;
int engine_pop_frame(struct engine *e, struct video_frame *f);
/* The listening port (valid after engine_start). */
int engine_port(const struct engine *e);
/* QUIT if running, wait, free everything. */
void engine_free(struct engine *e);

/* The snapshot as one JSON object (appended to out). */
int engine_stats_json(const struct engine_stats *st, struct lc_buf *out);
/* The snapshot as Prometheus text (appended to out). */
int engine_stats_metrics(const struct engine_stats *st, struct lc_buf *out);

#endif
