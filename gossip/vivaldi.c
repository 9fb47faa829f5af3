/*
 * gossip/vivaldi.c - network coordinates (see gossip.h).
 *
 * Design. Each RTT sample moves this node's coordinate along the line to
 * the remote coordinate by a fraction of the error (measured - estimated
 * RTT); the fraction is CC times the share of the two error estimates
 * that is ours, so a confident node moves little when it hears from an
 * unsure one. The error estimate is a moving average of the relative
 * error of the samples, weighted the same way. The height (the access
 * link, not shared with anyone) grows and shrinks with the same force in
 * proportion to the sum of both heights over their Euclidean distance.
 * The adjustment term absorbs what the Euclidean space cannot (the mean
 * residual over a window), and a gravity that grows with the square of
 * the distance from the origin keeps the system from drifting. The
 * constants are the ones the Vivaldi and "Network coordinates in the
 * wild" papers and Serf settled on (CE = CC = 0.25, rho = 150 ms).
 */
#include <math.h>
#include <string.h>

#include "gossip/gossip.h"
#include "lib/as.h"
#include "lib/rng.h"

#define VIV_CE 0.25		/* error estimate gain */
#define VIV_CC 0.25		/* coordinate gain */
#define VIV_RHO 150.0		/* gravity radius, ms */
#define VIV_ZERO 1e-6		/* distances below this are coincident */
/* The error estimate never claims better than this: with both errors at
 * 0 the weight of every sample is 0 and a coordinate would freeze (on a
 * link without jitter), never following a peer that moved. */
#define VIV_ERROR_MIN 0.05

void gossip_coord_init(struct gossip_coord *c)
{
	memset(c, 0, sizeof(*c));
	c->height = GOSSIP_COORD_HEIGHT_MIN;
	c->error = GOSSIP_COORD_ERROR_MAX;
}

void gossip_coord_self_init(struct gossip_coord_self *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	gossip_coord_init(&s->c);
	s->rng = seed;
}

static bool finite_within(double x, double lo, double hi)
{
	return isfinite(x) && x >= lo && x <= hi;
}

bool gossip_coord_valid(const struct gossip_coord *c)
{
	for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
		if (!finite_within(c->vec[i], -GOSSIP_COORD_LIMIT, GOSSIP_COORD_LIMIT))
			return false;
	return finite_within(c->height, 0, GOSSIP_COORD_LIMIT) &&
	       finite_within(c->error, 0, GOSSIP_COORD_ERROR_MAX) &&
	       finite_within(c->adjustment, -GOSSIP_COORD_LIMIT, GOSSIP_COORD_LIMIT);
}

static double euclid(const struct gossip_coord *a, const struct gossip_coord *b)
{
	double s = 0;
	for (int i = 0; i < GOSSIP_COORD_DIMS; i++) {
		double d = a->vec[i] - b->vec[i];
		s += d * d;
	}
	return sqrt(s);
}

static double raw_distance(const struct gossip_coord *a, const struct gossip_coord *b)
{
	return euclid(a, b) + a->height + b->height;
}

double gossip_coord_distance(const struct gossip_coord *a, const struct gossip_coord *b)
{
	double raw = raw_distance(a, b), adj = raw + a->adjustment + b->adjustment;
	return adj > 0 ? adj : raw;
}

/* Moves c by force (ms; > 0 away from other) along the line from other. */
static void apply_force(struct gossip_coord_self *s, const struct gossip_coord *other,
			double force)
{
	struct gossip_coord *c = &s->c;
	double dir[GOSSIP_COORD_DIMS], mag = euclid(c, other);

	if (mag > VIV_ZERO) {
		for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
			dir[i] = (c->vec[i] - other->vec[i]) / mag;
	} else {
		/* Coincident: any direction will do, but a random one, or
		 * all nodes starting at the origin would move together. */
		double n = 0;
		for (int i = 0; i < GOSSIP_COORD_DIMS; i++) {
			dir[i] = (double)(as_splitmix64(&s->rng) >> 11) / (double)(1ull << 53) - 0.5;
			n += dir[i] * dir[i];
		}
		n = sqrt(n);
		for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
			dir[i] = n > 0 ? dir[i] / n : (i == 0);
	}
	for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
		c->vec[i] += dir[i] * force;
	if (mag > VIV_ZERO) {
		c->height += (c->height + other->height) * force / mag;
		if (!(c->height >= GOSSIP_COORD_HEIGHT_MIN))
			c->height = GOSSIP_COORD_HEIGHT_MIN;
	}
}

int gossip_coord_update(struct gossip_coord_self *s, const struct gossip_coord *remote,
			double rtt_ms)
{
	struct gossip_coord *c = &s->c, origin;
	double dist, total, w, rel, sum = 0;

	if (!gossip_coord_valid(remote) || !finite_within(rtt_ms, 0, GOSSIP_COORD_LIMIT) ||
	    rtt_ms <= 0)
		return AS_EINVAL;
	/* Vivaldi proper. */
	dist = gossip_coord_distance(c, remote);
	total = c->error + remote->error;
	if (total < VIV_ZERO)
		total = VIV_ZERO;
	w = c->error / total;
	rel = fabs(dist - rtt_ms) / rtt_ms;
	c->error = VIV_CE * w * rel + c->error * (1 - VIV_CE * w);
	if (!(c->error <= GOSSIP_COORD_ERROR_MAX))
		c->error = GOSSIP_COORD_ERROR_MAX;
	if (c->error < VIV_ERROR_MIN)
		c->error = VIV_ERROR_MIN;
	apply_force(s, remote, VIV_CC * w * (rtt_ms - dist));
	/* Adjustment: half the mean residual of the window (each of the
	 * two ends of a distance carries its own). */
	s->adj[s->adj_i] = rtt_ms - raw_distance(c, remote);
	s->adj_i = (s->adj_i + 1) % GOSSIP_COORD_WINDOW;
	for (int i = 0; i < GOSSIP_COORD_WINDOW; i++)
		sum += s->adj[i];
	c->adjustment = sum / (2.0 * GOSSIP_COORD_WINDOW);
	/* Gravity towards the origin. */
	gossip_coord_init(&origin);
	dist = raw_distance(c, &origin);
	apply_force(s, &origin, -(dist / VIV_RHO) * (dist / VIV_RHO));
	if (!gossip_coord_valid(c)) {
		/* Cannot happen with valid input; never keep a poisoned
		 * coordinate: start again. */
		gossip_coord_init(c);
		memset(s->adj, 0, sizeof(s->adj));
		return AS_EINVAL;
	}
	s->updates++;
	return AS_OK;
}

double gossip_coord_filter(double win[3], uint32_t *n, double rtt_ms)
{
	double a, b, c;

	if (*n < 3) {
		win[(*n)++] = rtt_ms;
	} else {
		win[0] = win[1];
		win[1] = win[2];
		win[2] = rtt_ms;
	}
	if (*n == 1)
		return win[0];
	if (*n == 2)
		return (win[0] + win[1]) / 2;
	a = win[0], b = win[1], c = win[2];
	if (a > b) {
		double t = a;
		a = b;
		b = t;
	}
	return c < a ? a : c > b ? b : c;
}

static void put_f32(uint8_t *p, double x)
{
	float f = (float)x;
	uint32_t u;
	memcpy(&u, &f, 4);
	p[0] = (uint8_t)(u >> 24);
	p[1] = (uint8_t)(u >> 16);
	p[2] = (uint8_t)(u >> 8);
	p[3] = (uint8_t)u;
}

static double get_f32(const uint8_t *p)
{
	uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	float f;
	memcpy(&f, &u, 4);
	return f;
}

int gossip_coord_encode(const struct gossip_coord *c, uint8_t *buf, size_t len)
{
	if (len < GOSSIP_COORD_WIRE_LEN)
		return AS_ESPACE;
	for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
		put_f32(buf + 4 * i, c->vec[i]);
	put_f32(buf + 4 * GOSSIP_COORD_DIMS, c->height);
	put_f32(buf + 4 * GOSSIP_COORD_DIMS + 4, c->error);
	put_f32(buf + 4 * GOSSIP_COORD_DIMS + 8, c->adjustment);
	return GOSSIP_COORD_WIRE_LEN;
}

int gossip_coord_decode(const uint8_t *buf, size_t len, struct gossip_coord *c)
{
	size_t dims = len / 4 >= 3 ? len / 4 - 3 : 0;

	memset(c, 0, sizeof(*c));
	if (len % 4 || dims < 1 || dims > GOSSIP_COORD_DIMS)
		return AS_EMALFORMED;
	for (size_t i = 0; i < dims; i++)
		c->vec[i] = get_f32(buf + 4 * i);
	c->height = get_f32(buf + 4 * dims);
	c->error = get_f32(buf + 4 * dims + 4);
	c->adjustment = get_f32(buf + 4 * dims + 8);
	if (!gossip_coord_valid(c)) {
		gossip_coord_init(c);
		return AS_EMALFORMED;
	}
	return AS_OK;
}
