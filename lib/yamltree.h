/*
 * lib/yamltree.h - a compact YAML document tree built from libyaml events.
 *
 * Design. libyaml's document API (yaml_parser_load) keeps a ~100-byte
 * yaml_node_t per node, a strdup'd tag per node and a separately grown
 * item or pair stack per container, which for a catalog of thousands of
 * endpoints costs several times the file's size. This tree is built from
 * the event API (yaml_parser_parse) instead and keeps three growing
 * arrays: 16-byte nodes (type, scalar style, line, and an offset and
 * length), one string arena holding every scalar NUL-terminated, and one
 * "kids" array of node indices in which each container's children sit
 * contiguously (a map's as key, value, key, value). Children of nested
 * containers arrive interleaved, so they wait on a work stack and are
 * copied out when their container ends. Tags are not kept: callers
 * type scalars themselves (the config loader by its schema). An alias is not a node: it stands for the
 * anchored node itself, so identity (as_yaml_index) tells a repeat, as
 * with the document API; like libyaml's loader, an anchor is usable from
 * its container's start, so a container may hold itself. Nothing is
 * freed before as_yaml_free.
 *
 * as_yaml_load() follows yaml_parser_load()'s contract: it reads the
 * next document of the parser's stream (a tree without a root once the
 * stream has ended) and on failure leaves the problem in the parser's
 * error fields, its own composer errors (undefined alias, duplicate
 * anchor) worded as libyaml's loader words them, so callers report both
 * the same way. Its own library (lib/libasyaml.la), so that only the
 * modules that read YAML link libyaml.
 */
#ifndef ANYSTEER_LIB_YAMLTREE_H
#define ANYSTEER_LIB_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

struct as_yaml;
struct as_yaml_node;

/* Containers nested deeper than this are refused with a composer error
 * ("document nested deeper than 64 levels"). A configuration needs 5
 * (services -> service -> endpoints -> endpoint); the limit also bounds
 * libyaml's scanner, whose work per token grows with the flow nesting
 * (40,000 nested '[' took 5 s, 200,000 over a minute, before it). */
#define AS_YAML_MAX_DEPTH 64

enum as_yaml_type {
	AS_YAML_SCALAR = 1,
	AS_YAML_SEQUENCE,
	AS_YAML_MAPPING,
};

/* Loads the next document of *parser into a new tree (*out). Returns
 * AS_OK; AS_EPARSE on a syntax or composer error (also for nesting deeper
 * than AS_YAML_MAX_DEPTH, reported at the container that goes past it,
 * without reading further) or AS_ENOMEM, with the
 * parser's error fields set either way (YAML_MEMORY_ERROR for memory).
 * *out is NULL on failure. */
int as_yaml_load(yaml_parser_t *parser, struct as_yaml **out);
void as_yaml_free(struct as_yaml *t);

/* The document's root node; NULL for an empty stream (no document). */
const struct as_yaml_node *as_yaml_root(const struct as_yaml *t);
/* Nodes in the tree; as_yaml_index() of each is below this. */
size_t as_yaml_count(const struct as_yaml *t);
size_t as_yaml_index(const struct as_yaml *t, const struct as_yaml_node *n);

enum as_yaml_type as_yaml_type(const struct as_yaml_node *n);
/* 1-based line where the node (its anchor or tag, if any) starts. */
size_t as_yaml_line(const struct as_yaml_node *n);

/* Scalars: libyaml's style, the NUL-terminated text (which may hold NULs
 * of its own, hence *len). */
yaml_scalar_style_t as_yaml_style(const struct as_yaml_node *n);
const char *as_yaml_str(const struct as_yaml *t,
			const struct as_yaml_node *n, size_t *len);

/* Sequences: items; mappings: pairs. 0 for a scalar. */
size_t as_yaml_len(const struct as_yaml_node *n);
/* Item i of a sequence, key or value of pair i of a mapping; NULL when
 * n is not of that type or i is out of range. */
const struct as_yaml_node *as_yaml_item(const struct as_yaml *t,
					const struct as_yaml_node *n,
					size_t i);
const struct as_yaml_node *as_yaml_key(const struct as_yaml *t,
				       const struct as_yaml_node *n,
				       size_t i);
const struct as_yaml_node *as_yaml_value(const struct as_yaml *t,
					 const struct as_yaml_node *n,
					 size_t i);

#endif
