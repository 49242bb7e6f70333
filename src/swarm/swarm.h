/*
 * swarm: membership of layercast — the tracker role, the neighbour set and
 * churn. Pure logic: no I/O, no clock. Every call takes the current time
 * (microseconds, any monotonic origin) and reaches peers through a small
 * table of functions (struct swarm_ops), so the same code runs in the
 * engine over WebSocket links, in unit tests and in a virtual-time simulator
 * with thousands of peers. It speaks the HELLO, PEERS, PING/PONG and BYE
 * messages of wire.h; the other messages belong to the scheduler.
 *
 * Links. The caller owns the transport and names each link with a uint32
 * handle it allocates (ops->dial returns one for an outgoing link; an
 * incoming one is announced by swarm_on_link_open). The caller reports
 * open, every swarm message, and close. swarm asks for a close through
 * ops->close and forgets the link at once; a later swarm_on_link_closed or
 * message for that handle is ignored. ops functions must not call back into
 * swarm synchronously.
 *
 * Handshake. Each side sends HELLO as soon as a link opens. On the peer's
 * HELLO a side decides: refuse (BYE with a reason, then close: a different
 * stream id -> STREAM, a protocol level below proto_min -> VERSION, its own
 * peer id -> SELF, no room -> PEERS then FULL, a second link to the same
 * peer -> DUPLICATE) or accept, which it signals by its first PING. A link
 * is a neighbour when this side has accepted and the peer's first PING has
 * arrived, so both sides agree and a refused dial never shows up as a
 * neighbour. ops->nbr_up is called then; ops->nbr_down when it goes away.
 * A tracker answers every incoming link with PEERS (also when it refuses),
 * so a joining peer learns the swarm from its first contact. Another peer
 * answers with PEERS when it refuses, or accepts where views are partial
 * (it knows more peers than it has neighbour slots); in a full mesh every
 * newcomer dials every peer, and a PEERS from each only repeated the
 * tracker's (gossip brings it news within a few seconds).
 *
 * Duplicates. When both peers dial each other at once, each ends with two
 * links to the other. Each keeps the link dialled by the smaller peer id
 * (both sides compute the same answer) and closes the other with BYE
 * DUPLICATE. Two links dialled by the same side: the older is kept.
 *
 * Neighbour set. A peer keeps one slot for the source (AQCS needs every
 * peer linked to the source) and max_neighbours - 1 for others; the source
 * itself has max_neighbours slots (size it to the swarm: the source serves
 * a full mesh up to that size). The role comes from HELLO. While a peer
 * knows no more peers than its slots it dials all of them (full mesh);
 * beyond that (partial mesh) it dials until 3/4 of its slots are taken
 * and accepts incoming links up to all of them, so that a peer short of
 * neighbours still finds some that accept. Candidates are chosen uniformly
 * at random (a common order would build cliques). The peers that met while
 * the swarm was small fill their slots among themselves; so, in a partial
 * mesh, a full peer that is dialled gives up a random neighbour older than
 * 10 s for the newcomer (BYE FULL "rewired"; not churn), and a peer at its
 * dial target makes an exploration dial to a random peer 8, 16 and 32 s
 * (jittered) after joining and after each leave or failure it sees, taking
 * a slot the same way if full. Then it stops: a stable swarm does not
 * rewire. The source neither dials candidates nor evicts; every other peer
 * dials the source first whenever it knows it and is not linked to it (a
 * tracker that is not the source puts the source first in its PEERS, and
 * the first entry of such a tracker's PEERS is dialled first).
 *
 * Knowledge. Known peers come from HELLO (advertised host, or the address
 * the link came from when none is advertised, and the advertised port) and
 * PEERS. Only peers with a port (listening) and a host are dialled or
 * gossiped. An entry not heard of for known_ttl (no link, no mention) is
 * dropped, and so is one whose dials failed four times in a row. Gossip:
 * every interval one neighbour gets a PEERS, round robin (the one that had
 * none for longest, so a new neighbour first). The interval is
 * gossip_interval while the membership changes (a peer learned, a neighbour
 * linked or lost) and doubles after each round while it is quiet, up to 8
 * times that (Trickle, RFC 6206); a peer that heard a PEERS in the interval
 * that taught it nothing sends none (Trickle's suppression, redundancy
 * constant 1; not the tracker). A tracker sends
 * a random sample of the live peers it knows; any other peer sends its
 * neighbours, so that a dead peer stops being gossiped within the liveness
 * timeout and rumours cannot keep it alive. Below the neighbour limit
 * (every peer links to every other) a peer other than the tracker sends a
 * neighbour only its news: the neighbours it linked since it last sent
 * that one PEERS; the first time, all of them to a neighbour that dialled
 * it (it may have joined through this peer), only those linked since to
 * one it dialled (it learned of that one where it learned of the others);
 * nothing when there is no news.
 *
 * Churn. A BYE LEAVING or SHUTDOWN removes the peer at once from the
 * neighbour set and the known table, and its id is remembered for
 * known_ttl so that gossip in flight does not bring it back (a direct HELLO
 * from it does). A neighbour lost otherwise — link closed without BYE, no
 * message for liveness_timeout (a PING goes after ping_interval without any
 * other message to the neighbour, a PONG included, and for the RTT every
 * 5 s on a link with the source, every 20 s between other peers; it asks
 * for a PONG, ECHO, only for the RTT or when the neighbour has been quiet
 * for half an interval, else the neighbour's traffic is answer enough), any other BYE
 * — is a failure. Joins (a peer becomes a neighbour), leaves and failures
 * are counted in total and per second over the last minute; the link swap
 * of a duplicate is not churn.
 *
 * Redial. Dials of a known peer and of the tracker address back off from
 * backoff_min, doubling to backoff_max, with +-25 % jitter from an lc_rng
 * seeded from the config. The tracker address is dialled on swarm_join and
 * again whenever the peer has no neighbour and nothing else to dial.
 *
 * RTT: PING carries the send time (microseconds, modulo 2^32) as nonce;
 * PONG echoes it; the smoothed
 * RTT and its variation follow RFC 6298 (alpha 1/8, beta 1/4).
 */
#ifndef LC_SWARM_H
#define LC_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "wire/wire.h"

#define SWARM_DEFAULT_MAX_NEIGHBOURS 32
#define SWARM_RECENT_EVENTS 32

struct swarm;

enum swarm_link_state {
	SWARM_LINK_DIALLING,  /* dial issued, not open yet */
	SWARM_LINK_HELLO,     /* open, HELLO sent, waiting for the peer's HELLO */
	SWARM_LINK_ACCEPTED,  /* we accepted the peer; waiting for its accept */
	SWARM_LINK_NEIGHBOUR, /* both accepted */
};

/* One neighbour (or, from swarm_links, any link). */
struct swarm_nbr {
	uint64_t peer_id;            /* 0 before the peer's HELLO */
	uint32_t link;
	enum swarm_link_state state;
	bool dialled;                /* we dialled it (else accepted) */
	uint8_t role;                /* WIRE_ROLE_* flags from HELLO */
	uint16_t proto;
	uint16_t port;               /* advertised listen port (0: none) */
	char host[WIRE_HOST_MAX + 1];/* advertised host, or the address seen */
	uint32_t up_kbps, down_kbps; /* advertised */
	int64_t since_us;            /* neighbour since (else: link created) */
	int64_t rtt_us;              /* last PING/PONG sample, -1 none yet */
	int64_t srtt_us;             /* smoothed, -1 none yet */
	int64_t rttvar_us;           /* -1 none yet */
	int64_t last_rx_us;          /* last message from it */
};

/* Calls from swarm to its owner. ctx is passed back. */
struct swarm_ops {
	void *ctx;
	/* Start connecting to host:port; store the new link's handle in
	 * *link_out and return 0, or return a negative LC_E* (counted as a
	 * failed dial). Later: swarm_on_link_open or swarm_on_link_closed. */
	int (*dial)(void *ctx, const char *host, uint16_t port, uint32_t *link_out);
	/* Queue one message on an open link. 0 or a negative LC_E*. */
	int (*send)(void *ctx, uint32_t link, const struct wire_msg *m);
	/* Close (or cancel the dial of) a link; ws_code is a WebSocket close
	 * code (1000 after a BYE, 1001 leaving, 1002 protocol error). */
	void (*close)(void *ctx, uint32_t link, int ws_code, const char *reason);
	/* A neighbour is up (both sides accepted); the scheduler may use it. */
	void (*nbr_up)(void *ctx, uint32_t link, const struct swarm_nbr *n);
	/* A neighbour is gone. failed: lost without a BYE LEAVING/SHUTDOWN. */
	void (*nbr_down)(void *ctx, uint32_t link, bool failed);
};

struct swarm_config {
	uint64_t self_id;          /* non-zero */
	uint8_t role;              /* WIRE_ROLE_* flags; 0: WIRE_ROLE_PEER */
	const char *stream;        /* stream id (<= 64 printable), NULL: "" */
	const char *software;      /* NULL: "layercast" */
	const char *host;          /* advertised host, NULL/"": the address seen */
	uint16_t port;             /* advertised port, 0: does not listen */
	uint32_t up_kbps, down_kbps;
	unsigned max_neighbours;   /* 0: 32 */
	const char *tracker_host;  /* address dialled by swarm_join; NULL: none */
	uint16_t tracker_port;
	uint16_t proto;            /* HELLO.proto sent; 0: WIRE_PROTO */
	uint16_t proto_min;        /* lowest peer level accepted; 0: 1 */
	int64_t gossip_interval_us;  /* 0: 2 s; up to 8 x that while quiet */
	int64_t ping_interval_us;    /* 0: 2 s */
	int64_t liveness_timeout_us; /* 0: 5 s */
	int64_t backoff_min_us;      /* 0: 250 ms */
	int64_t backoff_max_us;      /* 0: 8 s */
	int64_t known_ttl_us;        /* 0: 60 s */
	unsigned known_max;          /* 0: 4096 */
	uint64_t seed;               /* for the rng (samples, jitter) */
};

enum swarm_event_kind { SWARM_EV_JOIN, SWARM_EV_LEAVE, SWARM_EV_FAILURE, SWARM_EV_KINDS };

struct swarm_event {
	int64_t t_us;
	uint64_t peer_id;
	enum swarm_event_kind kind;
};

struct swarm_stats {
	bool joined;               /* between swarm_join and swarm_leave */
	unsigned neighbours;       /* state NEIGHBOUR */
	unsigned neighbours_dialled;
	bool source_linked;        /* a neighbour has the SOURCE role (or we are it) */
	unsigned links;            /* every link swarm tracks, any state */
	unsigned dialling;         /* dials not open yet */
	unsigned known;            /* known peers (any, including port 0) */
	/* joins: a peer became a neighbour (again, after a leave, failure or
	 * rewire); leaves: a neighbour said BYE LEAVING/SHUTDOWN; failures: a
	 * neighbour was lost otherwise. Since swarm_new. */
	uint64_t joins, leaves, failures;
	uint32_t joins_1m, leaves_1m, failures_1m; /* in the last 60 s */
	uint64_t dials, dial_failures;
	uint64_t refused_full;     /* BYE FULL sent */
	uint64_t rejected_full;    /* BYE FULL received */
	uint64_t refused_other;    /* other refusals sent (stream, version, self, protocol) */
	uint64_t duplicates;       /* links closed as duplicates */
	uint64_t peers_sent, peers_received; /* PEERS messages */
	uint64_t peers_suppressed; /* gossip rounds without PEERS (one heard taught nothing) */
	uint64_t timeouts;         /* links closed for silence */
	uint64_t rewired;          /* neighbours given up for a newcomer (either side) */
	uint64_t explored;         /* exploration dials (see the top) */
};

/* Create. Copies the config (strings too). LC_EINVAL for a zero self_id or
 * a string over its wire limit, LC_ENOMEM. */
int swarm_new(const struct swarm_config *cfg, const struct swarm_ops *ops, struct swarm **out);
/* Free without sending anything (call swarm_leave first for a clean exit). */
void swarm_free(struct swarm *sw);

/* Join: dial the configured tracker (if any) and start filling the
 * neighbour set; a tracker without a tracker address just starts
 * accepting. LC_ESTATE if already joined. */
int swarm_join(struct swarm *sw, int64_t now_us);
/* Leave: BYE LEAVING on every link, close them all, forget the known peers,
 * stop dialling. The object stays usable; swarm_join works again. Incoming
 * links meanwhile get HELLO then BYE LEAVING. */
int swarm_leave(struct swarm *sw, int64_t now_us);

/* A link is open. dialled: one that ops->dial returned. remote_host and
 * remote_port: the address it was dialled at, or that it came from. Sends
 * HELLO. LC_EINVAL if a dialled handle is unknown (it is then closed). */
int swarm_on_link_open(struct swarm *sw, uint32_t link, bool dialled, const char *remote_host,
		       uint16_t remote_port, int64_t now_us);
/* One decoded message from a link. HELLO, PEERS, PING, PONG and BYE are
 * handled; 0 when all is well (also for an unknown or closed link, which is
 * ignored). LC_ETYPE for another type (the caller routes those to the
 * scheduler, but only on neighbour links: see swarm_link_get). A protocol
 * violation (anything before HELLO, a second HELLO, ...) returns LC_EPROTO
 * after swarm sent BYE PROTOCOL and asked ops->close with 1002; a refused
 * HELLO returns LC_EAGAIN (FULL, DUPLICATE) or LC_EINVAL (stream, version,
 * self) after its BYE and close. */
int swarm_on_message(struct swarm *sw, uint32_t link, const struct wire_msg *m, int64_t now_us);
/* Any other traffic from a link (the scheduler's messages) proves the peer
 * alive, as a swarm message does. */
void swarm_on_activity(struct swarm *sw, uint32_t link, int64_t now_us);
/* We sent a neighbour another message (the scheduler's): that proves us
 * alive to it, so a keepalive PING goes only after ping_interval without
 * any (and one every 5 s still, for the RTT, on a link to or from the
 * source; every 20 s between two other peers). A PONG we send counts the
 * same, so a quiet link carries one PING and one PONG per interval. */
void swarm_on_sent(struct swarm *sw, uint32_t link, int64_t now_us);
/* The link is gone (or its dial failed). ws_code as received, 1006 if
 * none. Unknown handles are ignored. */
void swarm_on_link_closed(struct swarm *sw, uint32_t link, int ws_code, int64_t now_us);

/* Timers: pings, liveness, handshake timeouts, gossip, expiry, redial. */
void swarm_tick(struct swarm *sw, int64_t now_us);
/* When swarm_tick next has something to do (>= now_us). */
int64_t swarm_next_wakeup(const struct swarm *sw, int64_t now_us);

void swarm_get_stats(const struct swarm *sw, int64_t now_us, struct swarm_stats *st);
/* Churn events in (now - window, now], window <= 60 s, per kind. */
void swarm_churn(const struct swarm *sw, int64_t now_us, int64_t window_us,
		 uint32_t counts[SWARM_EV_KINDS]);
/* The last events, newest first, up to cap (<= SWARM_RECENT_EVENTS). */
size_t swarm_recent_events(const struct swarm *sw, struct swarm_event *out, size_t cap);

/* The neighbours (state NEIGHBOUR), up to cap; returns how many exist. */
size_t swarm_neighbours(const struct swarm *sw, struct swarm_nbr *out, size_t cap);
/* Every link, any state, up to cap; returns how many exist. */
size_t swarm_links(const struct swarm *sw, struct swarm_nbr *out, size_t cap);
/* One link: 0, or LC_ENOENT. */
int swarm_link_get(const struct swarm *sw, uint32_t link, struct swarm_nbr *out);
/* The neighbour link to a peer id, or false. */
bool swarm_has_neighbour(const struct swarm *sw, uint64_t peer_id, uint32_t *link_out);
/* Whether the peer is in any table of ours (known peers or a link). */
bool swarm_knows(const struct swarm *sw, uint64_t peer_id);
uint64_t swarm_self_id(const struct swarm *sw);
/* "dialling", "hello", "accepted", "neighbour". */
const char *swarm_link_state_name(enum swarm_link_state s);

#endif
