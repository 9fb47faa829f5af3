/*
 * lib/yamltree.c - a compact YAML tree from libyaml's event stream.
 *
 * Design. One pass over the events of one document. A node is appended
 * when its event arrives (so indices follow document order and the root
 * is node 0) and its index is pushed on the work stack as a child of the
 * innermost open container; a container's end copies its run of the work
 * stack into the kids array in one piece. Anchors live in a small open
 * hash table (names in a side buffer) for the length of the load only, so
 * a file of many anchors costs no quadratic search. Offsets and counts
 * are 32-bit, which is what keeps a node at 16 bytes; a document that
 * would overflow them is refused with a composer error instead of
 * wrapping. So is nesting deeper than AS_YAML_MAX_DEPTH: the load stops
 * at the first container past it, before libyaml's scanner, which walks
 * every open flow level for every token, has read far. Arrays grow
 * geometrically and nothing is freed before as_yaml_free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yamltree.h"
#include "lib/as.h"
#include "lib/hash.h"

struct as_yaml_node {
	uint8_t type;		/* enum as_yaml_type */
	uint8_t style;		/* yaml_scalar_style_t of a scalar */
	uint32_t line;		/* 1-based */
	uint32_t off;		/* scalar: into arena; container: into kids */
	uint32_t len;		/* scalar: bytes; container: kids (2 per pair) */
};

struct as_yaml {
	struct as_yaml_node *nodes;
	size_t n_nodes, cap_nodes;
	char *arena;		/* every scalar, each NUL-terminated */
	size_t n_arena, cap_arena;
	uint32_t *kids;
	size_t n_kids, cap_kids;
};

struct yt_anchor {
	uint32_t name, len;	/* in yt_build.names */
	uint32_t node_plus1;	/* 0: empty slot */
	yaml_mark_t mark;	/* of the anchored node, for a duplicate */
};

struct yt_frame {
	uint32_t node;
	size_t base;		/* its first child on the work stack */
};

struct yt_build {
	yaml_parser_t *p;
	struct as_yaml *t;
	uint32_t *work;
	size_t n_work, cap_work;
	struct yt_frame *frames;
	size_t n_frames, cap_frames;
	struct yt_anchor *anchors;	/* power-of-two slots, half full at most */
	size_t n_anchors, cap_anchors;
	char *names;
	size_t n_names, cap_names;
};

/* Every index and offset must fit a uint32_t. */
#define YT_LIMIT ((size_t)UINT32_MAX - 1)

static int oom(struct yt_build *b)
{
	b->p->error = YAML_MEMORY_ERROR;
	return AS_ENOMEM;
}

static int composer_error(struct yt_build *b, const char *problem,
			  const yaml_mark_t *mark)
{
	b->p->error = YAML_COMPOSER_ERROR;
	b->p->problem = problem;
	b->p->problem_mark = *mark;
	return AS_EPARSE;
}

static int too_large(struct yt_build *b, const yaml_event_t *ev)
{
	return composer_error(b, "document too large", &ev->start_mark);
}

/* The slot of `name`, or the empty slot where it would go. */
static struct yt_anchor *anchor_slot(struct yt_build *b, const char *name,
				     size_t len)
{
	size_t mask = b->cap_anchors - 1;

	for (size_t i = as_fnv1a32(name, len) & mask;; i = (i + 1) & mask) {
		struct yt_anchor *a = &b->anchors[i];
		if (!a->node_plus1 ||
		    (a->len == len && memcmp(b->names + a->name, name, len) == 0))
			return a;
	}
}

static const struct yt_anchor *anchor_find(struct yt_build *b,
					   const char *name)
{
	const struct yt_anchor *a;

	if (!b->n_anchors)
		return NULL;
	a = anchor_slot(b, name, strlen(name));
	return a->node_plus1 ? a : NULL;
}

static int anchor_grow(struct yt_build *b)
{
	size_t ncap = b->cap_anchors ? b->cap_anchors * 2 : 16;
	struct yt_anchor *old = b->anchors, *na;
	size_t ocap = b->cap_anchors;

	if (ncap > SIZE_MAX / sizeof(*na) || !(na = calloc(ncap, sizeof(*na))))
		return oom(b);
	b->anchors = na;
	b->cap_anchors = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].node_plus1)
			*anchor_slot(b, b->names + old[i].name, old[i].len) = old[i];
	free(old);
	return AS_OK;
}

/* Remembers that `anchor` names node `idx`; a name used twice in one
 * document is an error, reported as libyaml's loader reports it. */
static int anchor_add(struct yt_build *b, const yaml_char_t *anchor,
		      uint32_t idx, const yaml_event_t *ev)
{
	const char *name = (const char *)anchor;
	size_t len;
	struct yt_anchor *a;
	int ret;

	if (!anchor)
		return AS_OK;
	len = strlen(name);
	if ((b->n_anchors + 1) * 2 > b->cap_anchors &&
	    (ret = anchor_grow(b)) != AS_OK)
		return ret;
	a = anchor_slot(b, name, len);
	if (a->node_plus1) {
		b->p->context = "found duplicate anchor; first occurrence";
		b->p->context_mark = a->mark;
		return composer_error(b, "second occurrence", &ev->start_mark);
	}
	if (b->n_names + len > YT_LIMIT)
		return too_large(b, ev);
	if (AS_GROW(b->names, b->cap_names, b->n_names + len))
		return oom(b);
	memcpy(b->names + b->n_names, name, len);
	*a = (struct yt_anchor){ .name = (uint32_t)b->n_names,
				 .len = (uint32_t)len, .node_plus1 = idx + 1,
				 .mark = ev->start_mark };
	b->n_names += len;
	b->n_anchors++;
	return AS_OK;
}

/* A child of the innermost open container (or the root). */
static int push_kid(struct yt_build *b, uint32_t idx)
{
	if (AS_GROW(b->work, b->cap_work, b->n_work + 1))
		return oom(b);
	b->work[b->n_work++] = idx;
	return AS_OK;
}

static int add_node(struct yt_build *b, const yaml_event_t *ev,
		    enum as_yaml_type type, const yaml_char_t *anchor,
		    uint32_t *idx)
{
	struct as_yaml *t = b->t;
	size_t line = ev->start_mark.line + 1;
	int ret;

	if (t->n_nodes >= YT_LIMIT)
		return too_large(b, ev);
	if (AS_GROW(t->nodes, t->cap_nodes, t->n_nodes + 1))
		return oom(b);
	*idx = (uint32_t)t->n_nodes;
	t->nodes[t->n_nodes++] = (struct as_yaml_node){
		.type = (uint8_t)type,
		.line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line,
	};
	if ((ret = anchor_add(b, anchor, *idx, ev)) != AS_OK)
		return ret;
	return push_kid(b, *idx);
}

static int on_scalar(struct yt_build *b, const yaml_event_t *ev)
{
	struct as_yaml *t = b->t;
	size_t len = ev->data.scalar.length;
	uint32_t idx;
	int ret;

	if (len >= YT_LIMIT || t->n_arena > YT_LIMIT - len - 1)
		return too_large(b, ev);
	if ((ret = add_node(b, ev, AS_YAML_SCALAR, ev->data.scalar.anchor,
			    &idx)) != AS_OK)
		return ret;
	if (AS_GROW(t->arena, t->cap_arena, t->n_arena + len + 1))
		return oom(b);
	memcpy(t->arena + t->n_arena, ev->data.scalar.value, len);
	t->arena[t->n_arena + len] = 0;
	t->nodes[idx].style = (uint8_t)ev->data.scalar.style;
	t->nodes[idx].off = (uint32_t)t->n_arena;
	t->nodes[idx].len = (uint32_t)len;
	t->n_arena += len + 1;
	return AS_OK;
}

#define YT_STR_(x) #x
#define YT_STR(x) YT_STR_(x)

static int on_start(struct yt_build *b, const yaml_event_t *ev,
		    enum as_yaml_type type, const yaml_char_t *anchor)
{
	uint32_t idx;
	int ret;

	if (b->n_frames >= AS_YAML_MAX_DEPTH)
		return composer_error(b, "document nested deeper than "
				      YT_STR(AS_YAML_MAX_DEPTH) " levels",
				      &ev->start_mark);
	if ((ret = add_node(b, ev, type, anchor, &idx)) != AS_OK)
		return ret;
	if (AS_GROW(b->frames, b->cap_frames, b->n_frames + 1))
		return oom(b);
	b->frames[b->n_frames++] = (struct yt_frame){ idx, b->n_work };
	return AS_OK;
}

static int on_end(struct yt_build *b, const yaml_event_t *ev)
{
	struct as_yaml *t = b->t;
	struct yt_frame f;
	size_t n;

	if (!b->n_frames)	/* the parser never sends this */
		return composer_error(b, "unexpected end of a container",
				      &ev->start_mark);
	f = b->frames[--b->n_frames];
	n = b->n_work - f.base;
	if (t->n_kids > YT_LIMIT - n)
		return too_large(b, ev);
	if (AS_GROW(t->kids, t->cap_kids, t->n_kids + n))
		return oom(b);
	if (n)	/* an empty container has no kids to copy (kids may be NULL) */
		memcpy(t->kids + t->n_kids, b->work + f.base,
		       n * sizeof(*t->kids));
	t->nodes[f.node].off = (uint32_t)t->n_kids;
	t->nodes[f.node].len = (uint32_t)n;
	t->n_kids += n;
	b->n_work = f.base;
	return AS_OK;
}

static int on_event(struct yt_build *b, const yaml_event_t *ev)
{
	const struct yt_anchor *a;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		a = anchor_find(b, (const char *)ev->data.alias.anchor);
		if (!a)
			return composer_error(b, "found undefined alias",
					      &ev->start_mark);
		return push_kid(b, a->node_plus1 - 1);
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, ev, AS_YAML_SEQUENCE,
				ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, ev, AS_YAML_MAPPING,
				ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(b, ev);
	default:		/* the parser never sends others in a document */
		return composer_error(b, "unexpected event in a document",
				      &ev->start_mark);
	}
}

/* The parser's own error, from its error fields. */
static int parse_error(const yaml_parser_t *p)
{
	return p->error == YAML_MEMORY_ERROR ? AS_ENOMEM : AS_EPARSE;
}

/* Events up to the end of the document, or to an error. */
static int load_document(struct yt_build *b)
{
	yaml_event_t ev;
	int ret;

	for (;;) {
		if (!yaml_parser_parse(b->p, &ev))
			return parse_error(b->p);
		if (ev.type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			return AS_OK;
		}
		ret = on_event(b, &ev);
		yaml_event_delete(&ev);
		if (ret != AS_OK)
			return ret;
	}
}

int as_yaml_load(yaml_parser_t *parser, struct as_yaml **out)
{
	struct yt_build b = { .p = parser };
	yaml_event_t ev;
	int ret = AS_OK;

	*out = NULL;
	if (!(b.t = calloc(1, sizeof(*b.t))))
		return oom(&b);
	if (!parser->stream_start_produced) {
		if (!yaml_parser_parse(parser, &ev)) {
			ret = parse_error(parser);
			goto cleanup;
		}
		yaml_event_delete(&ev);	/* STREAM-START */
	}
	if (parser->stream_end_produced)
		goto cleanup;		/* no more documents: no root */
	if (!yaml_parser_parse(parser, &ev)) {
		ret = parse_error(parser);
		goto cleanup;
	}
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		goto cleanup;
	}
	yaml_event_delete(&ev);		/* DOCUMENT-START */
	ret = load_document(&b);
cleanup:
	free(b.work);
	free(b.frames);
	free(b.anchors);
	free(b.names);
	if (ret != AS_OK) {
		as_yaml_free(b.t);
		return ret;
	}
	*out = b.t;
	return AS_OK;
}

void as_yaml_free(struct as_yaml *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t->arena);
	free(t->kids);
	free(t);
}

const struct as_yaml_node *as_yaml_root(const struct as_yaml *t)
{
	return t && t->n_nodes ? &t->nodes[0] : NULL;
}

size_t as_yaml_count(const struct as_yaml *t)
{
	return t ? t->n_nodes : 0;
}

size_t as_yaml_index(const struct as_yaml *t, const struct as_yaml_node *n)
{
	return (size_t)(n - t->nodes);
}

enum as_yaml_type as_yaml_type(const struct as_yaml_node *n)
{
	return (enum as_yaml_type)n->type;
}

size_t as_yaml_line(const struct as_yaml_node *n)
{
	return n->line;
}

yaml_scalar_style_t as_yaml_style(const struct as_yaml_node *n)
{
	return n->type == AS_YAML_SCALAR ? (yaml_scalar_style_t)n->style
					  : YAML_ANY_SCALAR_STYLE;
}

const char *as_yaml_str(const struct as_yaml *t,
			const struct as_yaml_node *n, size_t *len)
{
	if (n->type != AS_YAML_SCALAR) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = n->len;
	return t->arena + n->off;
}

size_t as_yaml_len(const struct as_yaml_node *n)
{
	switch (n->type) {
	case AS_YAML_SEQUENCE:
		return n->len;
	case AS_YAML_MAPPING:
		return n->len / 2;
	default:
		return 0;
	}
}

static const struct as_yaml_node *kid(const struct as_yaml *t,
				      const struct as_yaml_node *n,
				      enum as_yaml_type type, size_t i)
{
	if (!n || n->type != type || i >= n->len)
		return NULL;
	return &t->nodes[t->kids[n->off + i]];
}

const struct as_yaml_node *as_yaml_item(const struct as_yaml *t,
					const struct as_yaml_node *n,
					size_t i)
{
	return kid(t, n, AS_YAML_SEQUENCE, i);
}

const struct as_yaml_node *as_yaml_key(const struct as_yaml *t,
				       const struct as_yaml_node *n,
				       size_t i)
{
	return i < SIZE_MAX / 2 ? kid(t, n, AS_YAML_MAPPING, 2 * i) : NULL;
}

const struct as_yaml_node *as_yaml_value(const struct as_yaml *t,
					 const struct as_yaml_node *n,
					 size_t i)
{
	return i < SIZE_MAX / 2 ? kid(t, n, AS_YAML_MAPPING, 2 * i + 1)
				: NULL;
}
