/*
 * simnet: a virtual-time network of scheduler nodes, for tests and the
 * simulator. Each node runs the real sched (and so nc and wire); messages
 * are encoded to bytes, queued per link, sent through the node's uplink at
 * its upload capacity (links served round robin, as the engine's shared
 * limiter does), delayed by a fixed latency, received through the
 * receiver's downlink at its download capacity, and decoded again.
 */
#ifndef LC_SIMNET_H
#define LC_SIMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/sched.h"

struct simnet;

struct sim_node_cfg {
	bool source;
	bool coding;
	uint32_t up_kbps;
	uint32_t down_kbps;   /* 0: unlimited */
	uint8_t max_level;
};

struct sim_node_stats {
	struct sched_stats sched;
	bool alive;
	int64_t joined_us;
	uint64_t up_bytes;          /* bytes through the uplink */
	uint64_t layer_hash_ok;     /* layers played whose hash matched the source */
	uint64_t layer_hash_bad;
	int64_t lag_us_max;
	int64_t lag_sum_us;
	uint64_t lag_n;
	int last_level_played;
	uint64_t played_bytes;       /* layer bytes of the segments played */
	uint64_t msgs_out[16];       /* messages sent, by wire type */
	uint64_t msg_bytes_out[16];  /* their encoded bytes */
};

/* latency_us: one-way delay of every link. */
struct simnet *simnet_new(uint64_t seed, int64_t latency_us);
void simnet_free(struct simnet *net);
/* Layer rates of the synthetic stream (kbps, per layer, not cumulative). */
void simnet_set_stream(struct simnet *net, const uint32_t *layer_kbps, int nlayers,
		       int64_t seg_us);
/* Add a node at the current time; returns its id. */
int simnet_add(struct simnet *net, const struct sim_node_cfg *cfg);
/* Link two nodes (both see nbr_up). */
int simnet_link(struct simnet *net, int a, int b);
/* A node vanishes: its links drop, messages to and from it are lost. */
void simnet_kill(struct simnet *net, int id);
void simnet_run_until(struct simnet *net, int64_t t_us);
int64_t simnet_now(const struct simnet *net);
void simnet_stats(const struct simnet *net, int id, struct sim_node_stats *st);
int simnet_count(const struct simnet *net);
/* Upload capacity x time summed over nodes while alive (bytes). */
double simnet_capacity_bytes(const struct simnet *net);

#endif
