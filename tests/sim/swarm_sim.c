/*
 * swarm_sim: the scheduler of layercast over the virtual-time network of
 * simnet.c, for scenarios too large or too long for real processes. It runs
 * one swarm in the four comparison modes (coding on/off x 4 layers / 1
 * layer) in a supply-limited and a demand-limited regime and prints, per
 * run: the bound r_max = min(u_s, (u_s + sum u_i) / n), the useful upload
 * utilisation (innovative block bytes received / upload capacity), the
 * played rate, continuity, start-up and lag.
 *
 *   swarm_sim [-n PEERS] [-t SECONDS] [-s SEED] [-b] [-f] [-v]
 *
 * -b runs swarm_bench's scenario instead (the 320x180 scene's three layers,
 * source 500 / peers 50-350 kbit/s supply-limited, source 1200 / peers
 * 200-1400 demand-limited), to compare virtual and real time; -f makes the
 * peers a flash crowd (they join 50 ms apart while the source streams, as in
 * swarm_bench; else all are there from the start); -v prints every peer's
 * figures.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "simnet.h"

static const uint32_t ladder4[] = { 200, 100, 500, 1200 }; /* cumulative 200/300/800/2000 */

struct scenario {
	const uint32_t *ladder;     /* layer rates, kbit/s */
	int nlayers;
	uint32_t single;            /* the one-layer encode's rate */
	uint32_t source_kbps[2];    /* supply-limited, demand-limited */
	uint32_t mix[2][5];         /* peer uploads, cycled */
	unsigned nmix;
};

/* A quarter of the peers below the base layer's rate, a quarter at 4x the
 * stream. */
static const struct scenario sc_default = {
	ladder4, 4, 2000, { 3000, 8000 }, { { 150, 600, 1200, 1800 }, { 150, 1500, 3000, 8000 } }, 4
};
static const uint32_t ladder_bench[] = { 86, 27, 193 };
static const struct scenario sc_bench = {
	ladder_bench, 3, 306, { 500, 1200 },
	{ { 50, 100, 150, 225, 350 }, { 200, 400, 600, 900, 1400 } }, 5
};
static const struct scenario *sc = &sc_default;
static bool verbose, flash;
#define FLASH_START_US 3300000 /* -f: the first peer joins (mid-segment) */

struct result {
	double rmax_kbps, util, played_kbps, cont_min, startup_p95_ms, lag_p95_ms;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double p95(double *v, unsigned n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return n ? v[(unsigned)(0.95 * (n - 1) + 0.5)] : 0;
}

static void run(unsigned n, bool supply_limited, bool coding, int layers, int secs, uint64_t seed,
		struct result *r)
{
	struct simnet *net = simnet_new(seed, 10000);
	if (layers > 1)
		simnet_set_stream(net, sc->ladder, sc->nlayers, 1000000);
	else
		simnet_set_stream(net, &sc->single, 1, 1000000);
	uint32_t us = sc->source_kbps[!supply_limited];
	double sum = 0;
	struct sim_node_cfg c = { .source = true, .coding = coding, .up_kbps = us, .max_level = 7 };
	simnet_add(net, &c);
	/* A flash crowd: the source streams alone, then the peers come 50 ms
	 * apart, each linking to everyone there (as swarm_bench starts them). */
	if (flash)
		simnet_run_until(net, FLASH_START_US);
	for (unsigned i = 0; i < n; i++) {
		c = (struct sim_node_cfg){ .coding = coding, .max_level = 7,
					   .up_kbps = sc->mix[!supply_limited][i % sc->nmix] };
		sum += c.up_kbps;
		int id = simnet_add(net, &c);
		for (int a = 0; flash && a < id; a++)
			simnet_link(net, a, id);
		if (flash)
			simnet_run_until(net, FLASH_START_US + (int64_t)(i + 1) * 50000);
	}
	for (unsigned a = 0; !flash && a <= n; a++)
		for (unsigned b = a + 1; b <= n; b++)
			simnet_link(net, (int)a, (int)b);
	r->rmax_kbps = (double)us < (us + sum) / n ? us : (us + sum) / n;
	int64_t warm = 5000000;
	simnet_run_until(net, warm);
	double cap0 = simnet_capacity_bytes(net);
	uint64_t useful0 = 0;
	for (unsigned i = 1; i <= n; i++) {
		struct sim_node_stats st;
		simnet_stats(net, (int)i, &st);
		useful0 += st.sched.bytes_in_useful;
	}
	simnet_run_until(net, warm + (int64_t)secs * 1000000);
	uint64_t useful = 0;
	uint64_t by[WIRE_TYPE_MAX + 1] = { 0 }, all = 0; /* the peers' upload by message type */
	double played = 0, startup[64], lag[64];
	r->cont_min = 1;
	for (unsigned i = 1; i <= n; i++) {
		struct sim_node_stats st;
		simnet_stats(net, (int)i, &st);
		useful += st.sched.bytes_in_useful;
		double cont = st.sched.segments_played
				      ? (double)st.sched.segments_ok / (double)st.sched.segments_played
				      : 0;
		if (cont < r->cont_min)
			r->cont_min = cont;
		played += (double)st.played_bytes * 8 / 1000 / (double)(warm / 1000000 + secs);
		startup[i - 1] = (double)st.sched.startup_us / 1000;
		for (int t = 1; t <= WIRE_TYPE_MAX; t++) {
			by[t] += st.msg_bytes_out[t];
			all += st.msg_bytes_out[t];
		}
		lag[i - 1] = (double)st.lag_us_max / 1000;
		if (verbose)
			printf("  peer %2u up %4u used %4.0f L%d cont %.3f stalls %llu start %4.0f "
			       "dup %llu/%llu (after done %llu) late %llu pulls %llu repairs %llu/%llu "
			       "out %llu/%llu exp %llu L0 %llu/%llu L1 %llu/%llu L2 %llu/%llu\n",
			       i, sc->mix[!supply_limited][(i - 1) % sc->nmix],
			       (double)st.up_bytes * 8 / 1000 / (double)(warm / 1000000 + secs),
			       st.last_level_played, cont, (unsigned long long)st.sched.stalls,
			       startup[i - 1], (unsigned long long)st.sched.blocks_dup,
			       (unsigned long long)st.sched.blocks_in,
			       (unsigned long long)st.sched.blocks_after_done,
			       (unsigned long long)st.sched.blocks_late,
			       (unsigned long long)st.sched.pulls_sent,
			       (unsigned long long)st.sched.repairs_sent,
			       (unsigned long long)st.sched.repairs_served,
			       (unsigned long long)st.sched.bytes_out,
			       (unsigned long long)st.sched.msg_bytes_out,
			       (unsigned long long)st.sched.fwd_expired,
			       (unsigned long long)st.sched.layer[0].gens_done,
			       (unsigned long long)st.sched.layer[0].gens_missed,
			       (unsigned long long)st.sched.layer[1].gens_done,
			       (unsigned long long)st.sched.layer[1].gens_missed,
			       (unsigned long long)st.sched.layer[2].gens_done,
			       (unsigned long long)st.sched.layer[2].gens_missed);
	}
	if (verbose) {
		struct sim_node_stats st;
		simnet_stats(net, 0, &st);
		printf("  source up %u used %.0f pulls served %llu repairs served %llu\n", us,
		       (double)st.up_bytes * 8 / 1000 / (double)(warm / 1000000 + secs),
		       (unsigned long long)st.sched.pulls_served,
		       (unsigned long long)st.sched.repairs_served);
		printf("  peers' upload by message type:");
		for (int t = 1; t <= WIRE_TYPE_MAX; t++)
			if (by[t])
				printf(" %s %.1f%%", wire_type_name(t), 100.0 * (double)by[t] / (double)all);
		printf("\n");
	}
	r->util = (double)(useful - useful0) / (simnet_capacity_bytes(net) - cap0);
	r->played_kbps = played / n;
	r->startup_p95_ms = p95(startup, n);
	r->lag_p95_ms = p95(lag, n);
	simnet_free(net);
}

int main(int argc, char **argv)
{
	int n = 10, secs = 30, c;
	uint64_t seed = 1;
	while ((c = getopt(argc, argv, "n:t:s:bfv")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'b': sc = &sc_bench; break;
		case 'f': flash = true; break;
		case 'v': verbose = true; break;
		default:
			fprintf(stderr, "usage: swarm_sim [-n PEERS] [-t SECONDS] [-s SEED] [-b] [-f] [-v]\n");
			return 2;
		}
	}
	if (n < 1 || n > 60 || secs < 1) {
		fprintf(stderr, "swarm_sim: 1 <= n <= 60 and t >= 1\n");
		return 2;
	}
	printf("%-7s %-9s %-6s %8s %6s %8s %6s %9s %8s\n", "regime", "coding", "layers", "r_max",
	       "util", "played", "cont", "start_p95", "lag_p95");
	double util_sl = 0, cont_dl = 1, st95 = 0, lag95 = 0;
	for (int reg = 0; reg < 2; reg++)
		for (int coding = 1; coding >= 0; coding--)
			for (int layers = sc->nlayers; layers >= 1; layers = layers > 1 ? 1 : 0) {
				struct result r;
				run((unsigned)n, reg == 0, coding, layers, secs, seed, &r);
				printf("%-7s %-9s %-6d %8.0f %6.3f %8.0f %6.3f %9.0f %8.0f\n",
				       reg == 0 ? "supply" : "demand", coding ? "rlnc" : "chunks", layers,
				       r.rmax_kbps, r.util, r.played_kbps, r.cont_min, r.startup_p95_ms,
				       r.lag_p95_ms);
				if (coding && layers > 1) {
					if (reg == 0)
						util_sl = r.util;
					else
						cont_dl = r.cont_min;
					if (r.startup_p95_ms > st95)
						st95 = r.startup_p95_ms;
					if (r.lag_p95_ms > lag95)
						lag95 = r.lag_p95_ms;
				}
			}
	printf("RESULT util_supply_limited=%.3f continuity_min=%.3f startup_ms_p95=%.0f lag_ms_p95=%.0f\n",
	       util_sl, cont_dl, st95, lag95);
	return 0;
}
