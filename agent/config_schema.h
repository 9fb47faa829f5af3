/*
 * agent/config_schema.h - the schema engine behind agent/config.c
 * (internal to agent/config*.c).
 *
 * The engine knows types (integers, durations, addresses, DNS names,
 * lists, sections), YAML, error collection with file:line and the printed
 * reference; it knows no key. config.c holds the rows (which key, where it
 * lands, its range and its validator) and the checks across keys (finish
 * hooks). Validators of values that another module consumes are that
 * module's own functions (dns_name_problem, route_bird_symbol_problem),
 * so the configuration accepts exactly what the module later accepts.
 */
#ifndef ANYSTEER_AGENT_CONFIG_SCHEMA_H
#define ANYSTEER_AGENT_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/yamltree.h"

/* Key paths such as "services[999].endpoints[9].address" fit easily. */
#define CFG_PATH_MAX 192

enum cfg_type {
	CFG_STR,	/* free text, optional validator */
	CFG_UINT,	/* unsigned integer, .min..max, stored in .size bytes */
	CFG_DOUBLE,	/* finite number, .dmin..dmax */
	CFG_BOOL,
	CFG_DURATION,	/* "5s", "250ms", bare seconds; stored in ms */
	CFG_SOCKADDR,	/* "[v6]:port" or "v4:port", .port if omitted */
	CFG_IPADDR,	/* bare IPv6 or IPv4 address */
	CFG_DNAME,	/* host name (dns_name_problem), stored lower case
			 * with trailing dot */
	CFG_LABEL,	/* a service name: one host-name label or the
			 * wildcard "*" (dns_name_service_label_problem),
			 * stored lower case */
	CFG_ENUM,	/* one of .values, stored as the canonical string */
	CFG_LIST,	/* list of scalars of type .elem, stored as char ** */
	CFG_SECTION,	/* nested map: an embedded struct at .off */
	CFG_SECTIONS,	/* list of maps: array of .sub->size structs */
};

enum cfg_flags {
	CFG_REQUIRED = 1 << 0,	/* absent or empty is an error */
	CFG_NONEMPTY = 1 << 1,	/* a list given explicitly needs an item */
	CFG_EMPTY_OK = 1 << 2,	/* "" is accepted (an address: disabled) */
	CFG_PARSED = 1 << 3,	/* also store the parsed form at .aux_off */
};

struct cfg_ctx;
struct cfg_section;

struct cfg_item {
	const char *name;
	enum cfg_type type;
	enum cfg_type elem;	/* CFG_LIST: type of the items */
	unsigned flags;
	size_t off;		/* the value, relative to the section struct */
	size_t size;		/* bytes of integer storage */
	size_t count_off;	/* lists: the size_t item count */
	/* CFG_PARSED: SOCKADDR scalar -> struct sockaddr_storage; IPADDR
	 * scalar -> int family here, 16 address bytes at aux2_off; LIST of
	 * addresses -> parallel struct sockaddr_storage array. */
	size_t aux_off;
	size_t aux2_off;
	const char *def;	/* default, parsed like input; NULL = none */
	const char *def_doc;	/* default shown when computed at load time */
	uint64_t min, max;	/* UINT, DURATION (ms) */
	double dmin, dmax;	/* DOUBLE */
	uint16_t port;		/* SOCKADDR: port when none is written */
	const char *const *values; /* ENUM, NULL-terminated */
	/* Extra check of the normalised text; returns why it is bad. */
	const char *(*check)(const char *value);
	const struct cfg_section *sub; /* SECTION, SECTIONS */
	const char *desc;
};

/* Where a finish hook's section is in the document. */
struct cfg_where {
	const struct as_yaml_node *map; /* the section's map, NULL if absent */
	const char *path;	/* "dns", "services[3]" */
	size_t line;		/* of the section's key (its map if a list
				 * item), or of its parent if absent */
	bool clean;		/* its own keys loaded without error */
};

struct cfg_section {
	const struct cfg_item *items;
	size_t n_items;
	size_t size;		/* struct size (element size for SECTIONS) */
	/* Runs after the section's rows: computed defaults and checks
	 * across keys. Sections run in table order. */
	void (*finish)(struct cfg_ctx *ctx, void *base,
		       const struct cfg_where *w);
};

#define AT(T, m) .off = offsetof(T, m), .size = sizeof(((T *)0)->m)
#define COUNT(T, m) .count_off = offsetof(T, m)
#define AUX(T, m) .aux_off = offsetof(T, m)
#define AUX2(T, m) .aux2_off = offsetof(T, m)
#define SECTION_OF(items_, T, finish_) \
	{ items_, AS_ARRAY_SIZE(items_), sizeof(T), finish_ }

/* ---- entry points -------------------------------------------------------- */

/* Parses text against the root section into a new zeroed struct of
 * root->size bytes (*out, freed with cfg_free()). AS_OK; AS_ECONFIG with
 * every problem as "file:line: key: message" lines in errbuf (sorted by
 * line); AS_ENOMEM; AS_EINVAL. Thread-safe. */
int cfg_parse(const struct cfg_section *root, const char *path,
	      const char *text, size_t len, void **out, char *errbuf,
	      size_t errlen);
/* Reads a whole file (at most 16 MiB) into *text (NUL-terminated, to
 * free). On failure the reason goes to errbuf as "file: cannot read". */
int cfg_read_file(const char *path, char **text, size_t *len, char *errbuf,
		  size_t errlen);
/* Frees what the rows of sec own inside base (not base). */
void cfg_free(const struct cfg_section *sec, void *base);
/* The reference table (Markdown) of every key under root. */
void cfg_print_schema(const struct cfg_section *root, FILE *f);
/* The same as text for a terminal: per key a line "key (type; default:
 * X)" and its description, indented, no line longer than width (at least
 * 40) unless one word is. */
void cfg_print_schema_text(const struct cfg_section *root, FILE *f, int width);

/* ---- for finish hooks ------------------------------------------------------ */

void cfg_error(struct cfg_ctx *ctx, size_t line, const char *key,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cfg_oom(struct cfg_ctx *ctx);
/* The struct being filled (root->size bytes). */
void *cfg_root(const struct cfg_ctx *ctx);
/* User text made safe for one message line (at most ~60 characters). */
const char *cfg_show(const char *s, char out[80]);
void cfg_pathf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

size_t cfg_line_of(const struct as_yaml_node *n);
const struct as_yaml_node *cfg_map_get(struct cfg_ctx *ctx,
				       const struct as_yaml_node *map,
				       const char *key);
const struct as_yaml_node *cfg_seq_get(struct cfg_ctx *ctx,
				       const struct as_yaml_node *seq,
				       size_t i);
/* Line of w's map[key] if it is there, else the section's own line. */
size_t cfg_key_line(struct cfg_ctx *ctx, const struct cfg_where *w,
		    const char *key);
/* The map has key with a non-null value. */
bool cfg_has_key(struct cfg_ctx *ctx, const struct as_yaml_node *map,
		 const char *key);

#endif
