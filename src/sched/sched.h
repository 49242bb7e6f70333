/*
 * sched: layered Adaptive Queue-based Chunk Scheduling (AQCS) with network
 * coding, layer adaptation and the playback buffer of one node. No I/O: the
 * caller passes the time and every input, and the scheduler reaches its
 * neighbours through a small table of functions (struct sched_ops), so the
 * same code runs in the engine, in tests and in the virtual-time simulator.
 *
 * Units. A segment (1 s of video) has up to 8 layers; layer l of segment s is
 * one generation of k blocks of B bytes (see nc.h). The source picks B per
 * layer so that k stays near SCHED_TARGET_K (larger k: finer granularity and
 * a costlier decode; see nc_bench).
 *
 * AQCS (Guo, Liang, Liu 2008) on generations:
 *  - A peer keeps a forward queue of blocks the source marked FORWARD, each
 *    with the neighbours it still has to go to. When the queue's backlog
 *    falls below what the peer's upload drains in one round trip to the
 *    source (plus one pull's worth), it sends the source a PULL signal.
 *  - The source keeps the PULL signals in a FIFO queue and answers the head
 *    with K fresh coded blocks marked FORWARD; the peer relays each to all
 *    its neighbours subscribed to that layer. With no pull waiting, the
 *    source sends fresh blocks marked no-forward directly, round robin over
 *    the peers that still need them. This fills the source's and the peers'
 *    upload and reaches r_max = min(u_s, (u_s + sum u_i) / n).
 *  - Relay lists (coding only). A peer too slow to send a block to all its
 *    neighbours within RELAY_BOUND (1.2 s) would relay nothing, and its
 *    upload would idle. Instead the source answers its pull with blocks of
 *    layer 1 and up carrying a list (BLOCK flag DESTS) of as many peers as
 *    it reaches within 0.6 s, those that still need the generation, the
 *    least covered first; the relay sends each to the listed ones alone.
 *    Likewise a relay that would reach all, but not all before the
 *    segment's deadline (the newest segment's upper layers, served last):
 *    a list of as many as it reaches by then. The base layer, the most
 *    urgent, goes only to relays that reach all in time.
 *  - Fresh source blocks are linearly independent (systematic first, then
 *    dense random), so every forwarded block is innovative for every
 *    receiver. The source counts per generation and peer the forward blocks
 *    issued to all (they reach every subscriber), the listed ones naming it
 *    and the direct ones, and stops when each subscriber is covered (k) or
 *    has said DONE.
 *  - Layers: blocks of layer l go only to peers subscribed to l; the source
 *    serves the lowest layer first, then the oldest segment, so when upload
 *    is short the upper layers starve first.
 *  - The source's order: the newest segment's base layer to relays; then
 *    repairs, the shortest request of the oldest segment first, dropping
 *    those it cannot meet by the deadline; then the laggards' base layer
 *    (peers that linked after its forward blocks went), directly if its
 *    upload completes them all in time, else as a block listing the
 *    laggards a relay reaches in time, with its pull; then the pulls of
 *    upper layers, and direct blocks. In a flash crowd, repairs and
 *    laggards served in turn had taken its whole upload and completed
 *    nobody, and the next segment missed every peer.
 *  - Repair: a peer short of rank near a segment's deadline (or stalled)
 *    sends PULL REPAIR to two neighbours that said DONE (else hold more,
 *    HAVE), drawn with odds in proportion to their upload; they answer
 *    with recoded blocks (random combinations of what they hold, before
 *    decoding), the shortest request of the oldest segment first, and
 *    drop those they cannot meet in time. A peer yet to start asks at
 *    once, of neighbours done with the base layer, 3 blocks at a time.
 *    Nobody asks past the deadline. In --no-coding mode blocks are plain
 *    chunks and a repair names the missing chunks (WANT).
 *  - DONE stops the senders of a decoded generation. It goes to the source,
 *    to the neighbours asked to repair it, to those linked in the last 3 s
 *    (they start up), and to 8 others drawn with odds in proportion to
 *    their upload (the relays with the most copies under way, the
 *    likeliest repair servers); to every neighbour it cost a 50 kbit/s
 *    peer a tenth of its upload at n = 30. HAVE tells the ranks held, once,
 *    to a new neighbour; the rest it learns from DONE. (A HAVE each second
 *    to every neighbour cost the slowest peers 9 % of their upload at
 *    n = 30; to the new ones only, 1-6 % of a peer's upload in a flash
 *    crowd, when its repairs were most needed.)
 *
 * Layer adaptation. A peer subscribes to layers 0..level. It never asks for
 * more than its download sustains (the cumulative rate of the layers against
 * --download-kbps); it moves down one layer when a subscribed layer misses a
 * deadline, and up one after a stable period with every subscribed layer
 * complete early, always at a segment boundary (the next segment to arrive).
 *
 * Playback. Segment s plays at its deadline, capture(s) + duration + buffer
 * on the wall clock (the same instant for every viewer; hosts' clocks are
 * assumed synchronised), at the highest layer prefix complete and
 * hash-checked by then. Playback starts with the oldest segment whose base
 * layer completed before its deadline, chosen when that deadline comes (an
 * older segment may complete after a newer one); a base layer missing at
 * its deadline is a stall (the segment is skipped: live video does not
 * wait).
 */
#ifndef LC_SCHED_H
#define LC_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "wire/wire.h"

#define SCHED_MAX_NBRS 64
#define SCHED_WINDOW 8          /* live segments kept */
#define SCHED_TARGET_K 32

struct sched;

/* A segment delivered to the player at its deadline. */
struct sched_play {
	uint32_t segment;
	int level;                       /* highest complete layer; -1: stall */
	const struct wire_segment *desc; /* NULL if the descriptor never came */
	const uint8_t *payload[WIRE_LAYERS_MAX]; /* layers 0..level */
	size_t len[WIRE_LAYERS_MAX];
	int64_t lag_us;                  /* wall now - capture time */
};

struct sched_ops {
	void *ctx;
	/* Queue a message on a link; 0 or a negative error (link gone). */
	int (*send)(void *ctx, uint32_t link, const struct wire_msg *m);
	/* Bytes the link accepts now without a deep queue (0: full). */
	size_t (*room)(void *ctx, uint32_t link);
	/* A segment's deadline passed: play it (or count the stall). */
	void (*play)(void *ctx, const struct sched_play *p);
};

struct sched_config {
	bool source;
	bool coding;            /* false: plain chunks (--no-coding) */
	uint32_t up_kbps;       /* upload capacity (0: unknown, assume plenty) */
	uint32_t down_kbps;     /* download capacity (0: unlimited) */
	uint8_t max_level;      /* layer cap, 0..7 */
	unsigned pull_blocks;   /* K, blocks per pull answer (default 4) */
	int64_t buffer_us;      /* playout buffer after a segment's capture ends (default 1.8 s) */
	int64_t stable_us;      /* time without shortfall before moving up (default 3 s) */
	int64_t repair_us;      /* repair when the deadline is this close (default 500 ms) */
	uint64_t seed;          /* coefficient randomness */
};

void sched_config_default(struct sched_config *c);

int sched_new(struct sched **out, const struct sched_config *cfg, const struct sched_ops *ops,
	      int64_t now_us);
void sched_free(struct sched *s);

/* Source: a new segment with its descriptor (k, B filled in here) and one
 * payload per layer. The scheduler copies what it needs. */
int sched_add_segment(struct sched *s, struct wire_segment *desc, const uint8_t *const *payload,
		      int64_t now_us);
/* Pick B (at least min_block bytes, unless the layer is shorter) and k for
 * a layer of len bytes. */
void sched_pick_block(size_t len, uint32_t min_block, uint32_t *block_size, uint16_t *k);

/* Neighbours, as the swarm accepts and drops them. */
/* peer_id: its id from HELLO (0 if unknown: never on a relay list). */
int sched_nbr_up(struct sched *s, uint32_t link, bool is_source, uint32_t up_kbps,
		 uint64_t peer_id, int64_t now_us);
void sched_nbr_down(struct sched *s, uint32_t link, int64_t now_us);
void sched_nbr_rtt(struct sched *s, uint32_t link, int64_t rtt_us);

/* A scheduling message from a neighbour (HAVE, PULL, BLOCK, DONE, SUBSCRIBE,
 * SEGMENT, WANT). Returns 0 or a negative error for a message that breaks the
 * protocol (the caller closes the link). */
int sched_on_message(struct sched *s, uint32_t link, const struct wire_msg *m, int64_t now_us,
		     int64_t wall_us);

/* Timers: pulls, repair, HAVE, deadlines, adaptation. Call often (10 ms). */
void sched_tick(struct sched *s, int64_t now_us, int64_t wall_us);
/* Fill the links' room with the most urgent messages. Call after tick, on
 * every drain of a link, and after messages. */
void sched_pump(struct sched *s, int64_t now_us);

/* The layer cap: subscribe to and play layers 0..max_level at most. */
void sched_set_cap(struct sched *s, uint8_t max_level, int64_t now_us);
/* Leave (false) stops playback without counting stalls; join (true) starts
 * it up again, like a new viewer, on the next complete segment. */
void sched_set_active(struct sched *s, bool active);

struct sched_layer_stats {
	uint64_t bytes_in;          /* innovative payload bytes received */
	uint64_t gens_done;
	uint64_t gens_missed;       /* deadline passed incomplete while subscribed */
};

struct sched_stats {
	int level;                  /* subscribed layers 0..level (-1: none) */
	int playing_level;          /* layer of the last segment played */
	bool started;
	int64_t startup_us;         /* first play - creation (-1: not yet) */
	uint64_t segments_played;   /* deadlines reached since start */
	uint64_t segments_ok;       /* base layer complete on time */
	uint64_t stalls;
	uint64_t bytes_in, bytes_in_useful, bytes_in_dup; /* BLOCK payload bytes */
	uint64_t bytes_out;         /* BLOCK payload bytes sent */
	uint64_t msg_bytes_out, msg_bytes_in; /* every message, headers included */
	uint64_t blocks_in, blocks_dup, blocks_out;
	uint64_t blocks_late;       /* for a segment past its deadline */
	uint64_t blocks_after_done; /* for a generation already decoded */
	uint64_t fwd_expired;       /* relay copies dropped: their segment's deadline passed */
	uint64_t pulls_sent, pulls_served, repairs_sent, repairs_served;
	uint64_t hash_failures;
	uint32_t newest_segment;
	int64_t buffer_us;          /* media with its base layer complete, not yet played */
	struct sched_layer_stats layer[WIRE_LAYERS_MAX];
};
void sched_get_stats(const struct sched *s, struct sched_stats *st);

/* One neighbour, for dashboards: the layers it subscribed to (0..level,
 * -1: none) and the blocks exchanged with it. LC_ENOENT: no such link. */
struct sched_nbr_stats {
	int level;
	uint64_t blocks_in, blocks_useful, blocks_out;
};
int sched_nbr_stats(const struct sched *s, uint32_t link, struct sched_nbr_stats *out);

/* Generation progress of a live segment layer (rank, k), for dashboards. */
int sched_gen_progress(const struct sched *s, uint32_t segment, int layer, unsigned *rank,
		       unsigned *k);

#endif
