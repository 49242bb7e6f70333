/* engine internals shared by engine.c and stats.c. */
#ifndef LC_ENGINE_INTERNAL_H
#define LC_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine/engine.h"
#include "net/net.h"
#include "sched/sched.h"
#include "swarm/swarm.h"
#include "video/video.h"

#define ENGINE_CMDQ 32

/* One link as swarm and sched know it (a handle), and its net_link. */
struct elink {
	struct elink *next;
	uint32_t id;
	struct net_link *nl;     /* NULL while dialling */
	struct net_dial *dial;   /* dialled links */
	char host[WIRE_HOST_MAX + 1];
	uint16_t port;
	bool dialled;
	bool dead;               /* swarm forgot it: close when it opens */
	bool nbr;                /* sched knows it */
	bool dial_failed;        /* to report to swarm on the next tick */
	bool close_pending;      /* close once the queued BYE is written */
	int close_code;
	char close_reason[64];
	int64_t close_deadline;
	/* Scheduling messages that came before the handshake made the link a
	 * neighbour on this side (the peer may finish it first): u32 length +
	 * message, replayed when it does; at most EARLY_MAX bytes. */
	struct lc_buf early;
};

#define EARLY_MAX (256 * 1024)

struct engine_cmd {
	enum engine_cmd_kind kind;
	int arg;
};

struct engine {
	struct engine_config cfg;
	char *s_listen, *s_adv, *s_join, *s_input, *s_stream;

	pthread_t thread;
	pthread_mutex_t mu;      /* snapshot, command queue, life state */
	pthread_cond_t cv;
	bool init_done, closed, ended;
	int init_rc;
	char init_err[256];
	struct engine_cmd cmdq[ENGINE_CMDQ];
	unsigned cmd_n;
	struct engine_stats *snap; /* under mu */

	/* Engine thread only. */
	struct lc_loop *loop;
	struct net *net;
	struct swarm *sw;
	struct sched *sc;
	struct video_pipe *pipe;
	struct video_player *player;
	struct lc_timer *tick, *stats_timer;
	struct lc_async *seg_async, *cmd_async;
	struct elink *links;
	uint32_t next_id;
	uint64_t self_id;
	int port;
	uint8_t *encbuf;
	bool joined;
	bool quitting, net_stopping;
	int64_t quit_deadline;
	int64_t start_us;
	struct engine_stats *work; /* built here, copied into snap */

	/* playback and traffic accounting (engine thread) */
	int64_t lag_us[ENGINE_LAG_SAMPLES];
	unsigned lag_n, lag_pos;
	double played_bits, played_us;
	int last_level;
	int nlayers;
	uint64_t hash_ok[WIRE_LAYERS_MAX], hash_bad[WIRE_LAYERS_MAX];
	uint64_t decode_errors;
	uint64_t tx_type[WIRE_TYPE_MAX + 1]; /* message bytes sent, by wire type */
	uint64_t segments_produced;
	uint64_t player_dropped;
	int64_t first_capture_us;
	struct wire_segment last_desc; /* the newest descriptor seen played or produced */
	bool have_desc;
	double layer_kbps[WIRE_LAYERS_MAX]; /* smoothed stream rate per layer */
	int cap;                 /* layer cap (-1: none) */
	struct lc_rate layer_rate[WIRE_LAYERS_MAX];
	uint64_t layer_prev[WIRE_LAYERS_MAX];
	uint64_t produced[WIRE_LAYERS_MAX];
	struct lc_rate up_rate, down_rate;
	uint64_t up_prev, down_prev;
};

/* stats.c */
void engine_refresh_stats(struct engine *e);
int engine_http_provider(enum net_route route, struct lc_buf *out, void *arg);
size_t engine_node_queued(const struct engine *e);
void engine_note_desc(struct engine *e, const struct wire_segment *w);

#endif
