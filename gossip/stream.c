/*
 * gossip/stream.c - inbound stream frames (push-pull over TCP), read
 * incrementally and bounded.
 *
 * A connection carries one frame: a header (crypto.c seals it) announcing
 * the length of the packet that follows, then that packet. The adapter
 * asks where the next bytes go (gossip_stream_buf) and reports how many
 * arrived (gossip_stream_feed); nothing here touches a socket or a clock.
 *
 * What an unauthenticated peer can hold: a connection slot (at most
 * stream_max_conns, stream_max_per_source from one source prefix), for at
 * most stream_hdr_timeout_ms, and the 46 header bytes. Only an
 * authenticated header reserves a packet buffer, and only up to
 * gossip_stream_frame_max; the reservations of all streams together stay
 * under gossip_stream_budget, so even a peer holding a key (or replaying
 * a recorded header) cannot make the buffers outgrow the budget. The
 * buffer itself grows with what has arrived (doubling from BODY_CHUNK),
 * not with what was announced.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip.h"
#include "gossip/internal.h"
#include "lib/as.h"

#define BODY_CHUNK 16384	/* first packet buffer, and the least growth */
#define BUDGET_FRAMES 4		/* frames of the largest size in flight at once */
#define STALL_MS 250		/* woken this late past a deadline: we stalled */
#define GRACE_MS 250

struct gossip_stream {
	struct gossip_stream *prev, *next;
	struct gossip_core *c;
	struct sockaddr_storage from;
	uint64_t opened, deadline;
	bool graced, done, have_len;
	uint8_t hdr[GOSSIP_STREAM_HDR_MAX];
	size_t hdr_want, hdr_have;
	uint32_t body_len;
	uint8_t *body;
	size_t have, cap, reserved;
};

size_t gossip_stream_budget(const struct gossip_config *cfg)
{
	return BUDGET_FRAMES * gossip_stream_frame_max(cfg);
}

/* A source as 16 bytes (IPv4 as v4-mapped) and how many leading bits of
 * it identify the source. */
static unsigned source_key(const struct sockaddr_storage *ss, unsigned prefix6, uint8_t key[16])
{
	if (!as_sockaddr_key(ss, key))
		return 0;
	return as_addr16_is_v4mapped(key) ? 128 : prefix6;
}

static bool same_source(const struct sockaddr_storage *a, const struct sockaddr_storage *b,
			unsigned prefix6)
{
	uint8_t x[16], y[16];
	unsigned bits = source_key(a, prefix6, x);
	if (source_key(b, prefix6, y) != bits || memcmp(x, y, bits / 8) != 0)
		return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
		return (x[bits / 8] & mask) == (y[bits / 8] & mask);
	}
	return true;
}

int gossip_stream_open(struct gossip_core *c, uint64_t now,
		       const struct sockaddr_storage *from, struct gossip_stream **out)
{
	struct gossip_stream_acct *a = gossip_core_stream_acct(c);
	const struct gossip_config *cfg = gossip_core_config(c);
	struct gossip_stream *s;
	uint32_t same = 0;

	*out = NULL;
	if (a->n >= cfg->stream_max_conns) {
		gossip_core_count_drop(c, GOSSIP_DROP_CONN_LIMIT, from);
		return AS_ELIMIT;
	}
	for (s = a->head; s; s = s->next)
		same += same_source(&s->from, from, cfg->stream_source_prefix);
	if (same >= cfg->stream_max_per_source) {
		gossip_core_count_drop(c, GOSSIP_DROP_SOURCE_LIMIT, from);
		return AS_ELIMIT;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return AS_ENOMEM;
	s->c = c;
	s->from = *from;
	s->opened = now;
	s->deadline = now + cfg->stream_hdr_timeout_ms;
	s->hdr_want = GOSSIP_HDR_LEN;	/* the version and flags say the rest */
	s->next = a->head;
	if (s->next)
		s->next->prev = s;
	a->head = s;
	a->n++;
	*out = s;
	return AS_OK;
}

int gossip_stream_buf(struct gossip_stream *s, uint8_t **p, size_t *len)
{
	if (s->done)
		return AS_ESTATE;
	if (!s->have_len) {
		*p = s->hdr + s->hdr_have;
		*len = s->hdr_want - s->hdr_have;
		return AS_OK;
	}
	if (s->have == s->cap) {
		size_t ncap = AS_MIN(AS_MAX(s->cap * 2, (size_t)BODY_CHUNK), (size_t)s->body_len);
		uint8_t *np = realloc(s->body, ncap);
		if (!np)
			return AS_ENOMEM;
		s->body = np;
		s->cap = ncap;
	}
	*p = s->body + s->have;
	*len = s->cap - s->have;
	return AS_OK;
}

static void release(struct gossip_stream *s)
{
	gossip_core_stream_acct(s->c)->reserved -= s->reserved;
	s->reserved = 0;
	free(s->body);
	s->body = NULL;
	s->have = s->cap = 0;
}

/* The header is complete: authenticate it and reserve its packet. */
static int header_done(struct gossip_stream *s, enum gossip_drop *why)
{
	struct gossip_core *c = s->c;
	const struct gossip_config *cfg = gossip_core_config(c);
	struct gossip_stream_acct *a = gossip_core_stream_acct(c);
	int rc;

	gossip_core_count_stream(c, 1, 0);
	rc = gossip_stream_hdr_open(gossip_core_keyring(c), cfg->plaintext, cfg->label,
				    s->hdr, s->hdr_want, &s->body_len, why);
	if (rc < 0)
		return rc;
	if (s->body_len < GOSSIP_HDR_LEN) {
		*why = GOSSIP_DROP_SHORT;
		return AS_ETRUNC;
	}
	if (s->body_len > gossip_stream_frame_max(cfg)) {
		*why = GOSSIP_DROP_TOO_BIG;
		return AS_ELIMIT;
	}
	if (a->reserved + s->body_len > gossip_stream_budget(cfg)) {
		*why = GOSSIP_DROP_MEMORY;
		return AS_ELIMIT;
	}
	a->reserved += s->body_len;
	s->reserved = s->body_len;
	s->have_len = true;
	s->deadline = s->opened + cfg->stream_timeout_ms;
	return AS_OK;
}

int gossip_stream_feed(struct gossip_stream *s, uint64_t now, size_t n)
{
	struct gossip_core *c = s->c;
	enum gossip_drop why = GOSSIP_DROP_MALFORMED;
	int rc;

	if (s->done)
		return AS_ESTATE;
	gossip_core_count_stream(c, 0, n);
	if (!s->have_len) {
		s->hdr_have += n;
		if (s->hdr_have < s->hdr_want)
			return AS_OK;
		if (s->hdr_want == GOSSIP_HDR_LEN) {
			const struct gossip_config *cfg = gossip_core_config(c);
			rc = gossip_stream_hdr_len(gossip_core_keyring(c), cfg->plaintext, s->hdr, &why);
			if (rc < 0)
				goto drop;
			s->hdr_want = (size_t)rc;
			return AS_OK;
		}
		rc = header_done(s, &why);
		if (rc < 0)
			goto drop;
		return AS_OK;
	}
	s->have += n;
	if (s->have < s->body_len)
		return AS_OK;
	s->done = true;
	gossip_core_recv_body(c, now, &s->from, s->body, s->body_len);
	release(s);
	return GOSSIP_STREAM_DONE;
drop:
	s->done = true;
	gossip_core_count_drop(c, why, &s->from);
	return rc;
}

uint64_t gossip_stream_deadline(const struct gossip_stream *s)
{
	return s->deadline;
}

bool gossip_stream_expired(struct gossip_stream *s, uint64_t now)
{
	if (s->done)
		return true;
	if (now < s->deadline)
		return false;
	if (!s->graced && now - s->deadline >= STALL_MS) {
		s->graced = true;
		s->deadline = now + GRACE_MS;
		return false;
	}
	s->done = true;
	gossip_core_count_drop(s->c, GOSSIP_DROP_TIMEOUT, &s->from);
	return true;
}

size_t gossip_stream_buffered(const struct gossip_stream *s)
{
	return s->cap;
}

void gossip_stream_close(struct gossip_stream *s)
{
	struct gossip_stream_acct *a;
	if (!s)
		return;
	a = gossip_core_stream_acct(s->c);
	if (!s->done)
		gossip_core_count_drop(s->c, GOSSIP_DROP_SHORT, &s->from);
	release(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		a->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	a->n--;
	free(s);
}
