/*
 * The compact YAML tree (lib/yamltree.h): shape, lines, scalar text and
 * style, alias identity, every error as libyaml's document loader reports
 * it, document boundaries, and deep and wide documents. Where libyaml's
 * own loader has an answer, the tree is compared with it node by node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <yaml.h>

#include "lib/yamltree.h"
#include "lib/as.h"

typedef struct as_yaml_node ynode;

/* One parser over text, for the tests that read a stream step by step. */
struct stream {
	yaml_parser_t p;
	struct as_yaml *t;
};

static void open_stream(struct stream *s, const char *text, size_t len)
{
	memset(s, 0, sizeof(*s));
	assert_true(yaml_parser_initialize(&s->p));
	yaml_parser_set_input_string(&s->p, (const unsigned char *)text, len);
}

static void close_stream(struct stream *s)
{
	as_yaml_free(s->t);
	s->t = NULL;
	yaml_parser_delete(&s->p);
}

/* Loads the first document of text, which must succeed. */
static struct as_yaml *load_ok(const char *text)
{
	yaml_parser_t p;
	struct as_yaml *t = NULL;

	assert_true(yaml_parser_initialize(&p));
	yaml_parser_set_input_string(&p, (const unsigned char *)text,
				     strlen(text));
	int ret = as_yaml_load(&p, &t);
	if (ret != AS_OK)
		fail_msg("load failed (%d): %s at line %zu", ret,
			 p.problem ? p.problem : "?", p.problem_mark.line + 1);
	yaml_parser_delete(&p);
	assert_non_null(t);
	return t;
}

static const char *str(const struct as_yaml *t, const ynode *n)
{
	assert_non_null(n);
	assert_int_equal(as_yaml_type(n), AS_YAML_SCALAR);
	return as_yaml_str(t, n, NULL);
}

/* map[key] by a linear search over the pairs. */
static const ynode *get(const struct as_yaml *t, const ynode *map,
			const char *key)
{
	assert_non_null(map);
	assert_int_equal(as_yaml_type(map), AS_YAML_MAPPING);
	for (size_t i = 0; i < as_yaml_len(map); i++)
		if (strcmp(str(t, as_yaml_key(t, map, i)), key) == 0)
			return as_yaml_value(t, map, i);
	fail_msg("no key %s", key);
	return NULL;
}

/* ---- comparison with libyaml's document loader ---------------------------- */

/* Node i of the tree against node i + 1 of the document: libyaml also
 * numbers nodes in event order and makes no node for an alias, so equal
 * numbering is alias identity. */
static void same_node(const struct as_yaml *t, const ynode *n,
		      const yaml_node_t *d)
{
	size_t len;
	const char *s;

	assert_int_equal(as_yaml_line(n), d->start_mark.line + 1);
	switch (d->type) {
	case YAML_SCALAR_NODE:
		assert_int_equal(as_yaml_type(n), AS_YAML_SCALAR);
		s = as_yaml_str(t, n, &len);
		assert_int_equal(len, d->data.scalar.length);
		assert_memory_equal(s, d->data.scalar.value, len);
		assert_int_equal(s[len], 0);
		assert_int_equal(as_yaml_style(n), d->data.scalar.style);
		assert_int_equal(as_yaml_len(n), 0);
		break;
	case YAML_SEQUENCE_NODE: {
		yaml_node_item_t *it = d->data.sequence.items.start;
		size_t k = (size_t)(d->data.sequence.items.top - it);
		assert_int_equal(as_yaml_type(n), AS_YAML_SEQUENCE);
		assert_int_equal(as_yaml_len(n), k);
		for (size_t i = 0; i < k; i++)
			assert_int_equal(as_yaml_index(t, as_yaml_item(t, n, i)),
					 (size_t)it[i] - 1);
		assert_null(as_yaml_item(t, n, k));
		break;
	}
	case YAML_MAPPING_NODE: {
		yaml_node_pair_t *pr = d->data.mapping.pairs.start;
		size_t k = (size_t)(d->data.mapping.pairs.top - pr);
		assert_int_equal(as_yaml_type(n), AS_YAML_MAPPING);
		assert_int_equal(as_yaml_len(n), k);
		for (size_t i = 0; i < k; i++) {
			assert_int_equal(as_yaml_index(t, as_yaml_key(t, n, i)),
					 (size_t)pr[i].key - 1);
			assert_int_equal(as_yaml_index(t, as_yaml_value(t, n, i)),
					 (size_t)pr[i].value - 1);
		}
		assert_null(as_yaml_key(t, n, k));
		assert_null(as_yaml_value(t, n, k));
		break;
	}
	default:
		fail_msg("unexpected node type %d", d->type);
	}
}

/* Walks every document of text with both loaders and asserts they agree:
 * the same nodes, or the same error fields. Returns the number of
 * documents that loaded before the stream ended or failed. */
static size_t same_as_libyaml(const char *text, size_t len)
{
	yaml_parser_t a, b;
	size_t docs = 0;

	assert_true(yaml_parser_initialize(&a));
	assert_true(yaml_parser_initialize(&b));
	yaml_parser_set_input_string(&a, (const unsigned char *)text, len);
	yaml_parser_set_input_string(&b, (const unsigned char *)text, len);
	for (;;) {
		yaml_document_t doc;
		struct as_yaml *t = NULL;
		int ok = yaml_parser_load(&a, &doc);
		int ret = as_yaml_load(&b, &t);

		if (!ok) {
			assert_int_equal(ret, AS_EPARSE);
			assert_null(t);
			assert_int_equal(b.error, a.error);
			assert_string_equal(b.problem ? b.problem : "",
					    a.problem ? a.problem : "");
			assert_string_equal(b.context ? b.context : "",
					    a.context ? a.context : "");
			assert_int_equal(b.problem_mark.line, a.problem_mark.line);
			assert_int_equal(b.problem_mark.column,
					 a.problem_mark.column);
			assert_int_equal(b.context_mark.line, a.context_mark.line);
			assert_int_equal(b.problem_offset, a.problem_offset);
			break;
		}
		assert_int_equal(ret, AS_OK);
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		size_t n = (size_t)(doc.nodes.top - doc.nodes.start);
		assert_int_equal(as_yaml_count(t), n);
		if (!root)
			assert_null(as_yaml_root(t));
		else
			assert_int_equal(as_yaml_index(t, as_yaml_root(t)),
					 (size_t)(root - doc.nodes.start));
		if (root) {
			/* Breadth-first over the tree, checking each node
			 * once, matched with the document by index. */
			const ynode **queue = calloc(n, sizeof(*queue));
			unsigned char *done = calloc(n, 1);
			size_t head = 0, tail = 0;
			assert_non_null(queue);
			assert_non_null(done);
			queue[tail++] = as_yaml_root(t);
			done[as_yaml_index(t, as_yaml_root(t))] = 1;
			while (head < tail) {
				const ynode *x = queue[head++];
				size_t xi = as_yaml_index(t, x);
				same_node(t, x, &doc.nodes.start[xi]);
				size_t k = as_yaml_len(x);
				for (size_t i = 0; i < 2 * k; i++) {
					const ynode *c;
					if (as_yaml_type(x) == AS_YAML_SEQUENCE)
						c = i < k ? as_yaml_item(t, x, i) : NULL;
					else
						c = i % 2 ? as_yaml_value(t, x, i / 2)
							  : as_yaml_key(t, x, i / 2);
					if (c && !done[as_yaml_index(t, c)]) {
						done[as_yaml_index(t, c)] = 1;
						queue[tail++] = c;
					}
				}
			}
			/* Every node hangs off the root. */
			assert_int_equal(tail, n);
			free(queue);
			free(done);
		}
		as_yaml_free(t);
		yaml_document_delete(&doc);
		if (!root)
			break;
		docs++;
	}
	yaml_parser_delete(&a);
	yaml_parser_delete(&b);
	return docs;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_nested_lines(void **state)
{
	static const char text[] =
		"a: 1\n"			/* 1 */
		"b:\n"				/* 2 */
		"  - x\n"			/* 3 */
		"  - {c: [2, 3], d: e}\n"	/* 4 */
		"  -\n"				/* 5 */
		"    - deep\n"			/* 6 */
		"f: 'q'\n"			/* 7 */
		"g:\n";				/* 8 */
	struct as_yaml *t = load_ok(text);
	const ynode *root = as_yaml_root(t), *b, *m, *c;

	(void)state;
	assert_non_null(root);
	assert_int_equal(as_yaml_index(t, root), 0);
	assert_int_equal(as_yaml_type(root), AS_YAML_MAPPING);
	assert_int_equal(as_yaml_len(root), 4);
	assert_int_equal(as_yaml_line(root), 1);
	assert_string_equal(str(t, get(t, root, "a")), "1");
	b = get(t, root, "b");
	assert_int_equal(as_yaml_type(b), AS_YAML_SEQUENCE);
	assert_int_equal(as_yaml_len(b), 3);
	assert_int_equal(as_yaml_line(b), 3);
	assert_int_equal(as_yaml_line(as_yaml_item(t, b, 0)), 3);
	m = as_yaml_item(t, b, 1);
	assert_int_equal(as_yaml_line(m), 4);
	c = get(t, m, "c");
	assert_int_equal(as_yaml_len(c), 2);
	/* Kids of the inner list interleave with the outer map's in event
	 * order; each container must still get its own, in order. */
	assert_string_equal(str(t, as_yaml_item(t, c, 0)), "2");
	assert_string_equal(str(t, as_yaml_item(t, c, 1)), "3");
	assert_string_equal(str(t, get(t, m, "d")), "e");
	assert_string_equal(str(t, as_yaml_item(t, as_yaml_item(t, b, 2), 0)),
			    "deep");
	assert_int_equal(as_yaml_line(as_yaml_item(t, as_yaml_item(t, b, 2), 0)), 6);
	assert_string_equal(str(t, get(t, root, "f")), "q");
	assert_int_equal(as_yaml_style(get(t, root, "f")),
			 YAML_SINGLE_QUOTED_SCALAR_STYLE);
	assert_int_equal(as_yaml_style(get(t, root, "a")),
			 YAML_PLAIN_SCALAR_STYLE);
	/* `g:` with nothing is an empty plain scalar on its key's line. */
	assert_string_equal(str(t, get(t, root, "g")), "");
	assert_int_equal(as_yaml_line(get(t, root, "g")), 8);
	/* Out of range and wrong-type lookups are NULL, not a crash. */
	assert_null(as_yaml_item(t, root, 0));
	assert_null(as_yaml_key(t, b, 0));
	assert_null(as_yaml_item(t, b, 3));
	assert_null(as_yaml_item(t, NULL, 0));
	as_yaml_free(t);
	assert_int_equal(same_as_libyaml(text, strlen(text)), 1);
}

static void test_aliases(void **state)
{
	static const char text[] =
		"base: &b {k: v}\n"
		"copy: *b\n"
		"name: &n word\n"
		"names: [*n, *n, other]\n"
		"self: &s [1, *s]\n";
	struct as_yaml *t = load_ok(text);
	const ynode *root = as_yaml_root(t), *self;

	(void)state;
	/* An alias is the anchored node itself, not a copy. */
	assert_ptr_equal(get(t, root, "copy"), get(t, root, "base"));
	assert_ptr_equal(as_yaml_item(t, get(t, root, "names"), 0),
			 get(t, root, "name"));
	assert_ptr_equal(as_yaml_item(t, get(t, root, "names"), 1),
			 get(t, root, "name"));
	assert_ptr_not_equal(as_yaml_item(t, get(t, root, "names"), 2),
			     get(t, root, "name"));
	/* An anchor is usable inside its own container, as in libyaml. */
	self = get(t, root, "self");
	assert_ptr_equal(as_yaml_item(t, self, 1), self);
	/* Aliases make no nodes: 1 root + 5 keys + map(2) + name +
	 * list(1 own) + self list(1 own). */
	assert_int_equal(as_yaml_count(t), 1 + 5 + 3 + 1 + 2 + 2);
	as_yaml_free(t);
	assert_int_equal(same_as_libyaml(text, strlen(text)), 1);
}

static void test_alias_errors(void **state)
{
	struct stream s;
	static const char undef[] = "a: 1\nb:\n  - x\n  - *nope\n";
	static const char dup[] = "a: &x 1\nb: [2, &x 3]\n";

	(void)state;
	open_stream(&s, undef, strlen(undef));
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_EPARSE);
	assert_null(s.t);
	assert_int_equal(s.p.error, YAML_COMPOSER_ERROR);
	assert_string_equal(s.p.problem, "found undefined alias");
	assert_int_equal(s.p.problem_mark.line + 1, 4);
	close_stream(&s);
	assert_int_equal(same_as_libyaml(undef, strlen(undef)), 0);

	open_stream(&s, dup, strlen(dup));
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_EPARSE);
	assert_int_equal(s.p.error, YAML_COMPOSER_ERROR);
	assert_string_equal(s.p.problem, "second occurrence");
	assert_non_null(s.p.context);
	assert_non_null(strstr(s.p.context, "duplicate anchor"));
	assert_int_equal(s.p.context_mark.line + 1, 1);
	assert_int_equal(s.p.problem_mark.line + 1, 2);
	close_stream(&s);
	assert_int_equal(same_as_libyaml(dup, strlen(dup)), 0);

	/* Anchors belong to their document: the second may not use the
	 * first's, but may reuse its name. */
	static const char two[] = "a: &x 1\n---\nb: *x\n";
	static const char reuse[] = "a: &x 1\n---\nb: &x 2\nc: *x\n";
	assert_int_equal(same_as_libyaml(two, strlen(two)), 1);
	assert_int_equal(same_as_libyaml(reuse, strlen(reuse)), 2);

	/* Enough anchors to grow the anchor table several times, each
	 * found again by its alias. */
	size_t cap = 400 * 40, len = 0;
	char *big = malloc(cap);
	assert_non_null(big);
	for (int i = 0; i < 400; i++)
		len += (size_t)snprintf(big + len, cap - len,
					"k%d: &a%d v%d\n", i, i, i);
	len += (size_t)snprintf(big + len, cap - len, "all: [");
	for (int i = 399; i >= 0; i--)
		len += (size_t)snprintf(big + len, cap - len, "*a%d%s", i,
					i ? ", " : "]\n");
	assert_true(len < cap);
	struct as_yaml *t = load_ok(big);
	const ynode *all = get(t, as_yaml_root(t), "all");
	char key[16];
	snprintf(key, sizeof(key), "k%d", 123);
	assert_ptr_equal(as_yaml_item(t, all, 399 - 123),
			 get(t, as_yaml_root(t), key));
	assert_string_equal(str(t, as_yaml_item(t, all, 0)), "v399");
	as_yaml_free(t);
	assert_int_equal(same_as_libyaml(big, len), 1);
	free(big);
}

static void test_syntax_errors(void **state)
{
	static const struct {
		const char *text;
		size_t docs;	/* that load before the error */
	} bad[] = {
		{ "a: [1, 2\n", 0 },		/* unclosed flow sequence */
		{ "a: 1\n  b: 2\n", 0 },	/* bad indentation */
		{ "a: \"open\n", 0 },		/* unclosed quote */
		{ "a:\n\t- 1\n", 0 },		/* tab indentation */
		{ "%YAML 2.0\n---\na: 1\n", 0 }, /* unsupported version */
		{ "- &a\n- &\n", 0 },		/* empty anchor */
		{ "a: 1\n---\nb: c: d\n", 1 },	/* in the second document */
	};
	struct stream s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(same_as_libyaml(bad[i].text,
						 strlen(bad[i].text)),
				 bad[i].docs);

	/* Line and wording of one, independently of libyaml's loader. */
	open_stream(&s, "x: 1\ny: [1, 2\n", 14);
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_EPARSE);
	assert_null(s.t);
	assert_int_equal(s.p.error, YAML_PARSER_ERROR);
	assert_string_equal(s.p.context, "while parsing a flow sequence");
	assert_int_equal(s.p.context_mark.line + 1, 2);
	assert_int_equal(s.p.problem_mark.line + 1, 3);
	close_stream(&s);

	/* Invalid UTF-8 is a reader error, with a byte offset. */
	static const char utf[] = "a: \"\xff\"\n";
	open_stream(&s, utf, strlen(utf));
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_EPARSE);
	assert_int_equal(s.p.error, YAML_READER_ERROR);
	assert_int_equal(s.p.problem_offset, 4);
	close_stream(&s);
	assert_int_equal(same_as_libyaml(utf, strlen(utf)), 0);
}

static void test_documents(void **state)
{
	static const char three[] = "a: 1\n---\n- 2\n--- x\n";
	struct stream s;
	const ynode *r;

	(void)state;
	open_stream(&s, three, strlen(three));
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_OK);
	assert_int_equal(as_yaml_type(as_yaml_root(s.t)), AS_YAML_MAPPING);
	as_yaml_free(s.t);
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_OK);
	r = as_yaml_root(s.t);
	assert_int_equal(as_yaml_type(r), AS_YAML_SEQUENCE);
	assert_int_equal(as_yaml_line(r), 3);
	as_yaml_free(s.t);
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_OK);
	assert_string_equal(str(s.t, as_yaml_root(s.t)), "x");
	assert_int_equal(as_yaml_line(as_yaml_root(s.t)), 4);
	as_yaml_free(s.t);
	/* The end of the stream, and after it, is a tree without a root. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(as_yaml_load(&s.p, &s.t), AS_OK);
		assert_null(as_yaml_root(s.t));
		assert_int_equal(as_yaml_count(s.t), 0);
		as_yaml_free(s.t);
	}
	s.t = NULL;
	close_stream(&s);
	assert_int_equal(same_as_libyaml(three, strlen(three)), 3);

	/* A syntax error in the second document fails only the second. */
	static const char second_bad[] = "a: 1\n---\nb: [\n";
	assert_int_equal(same_as_libyaml(second_bad, strlen(second_bad)), 1);
}

static void test_empty(void **state)
{
	static const char *const empty[] = { "", "# only\n\n", "\n\n" };
	struct as_yaml *t;

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		t = load_ok(empty[i]);
		assert_null(as_yaml_root(t));
		assert_int_equal(as_yaml_count(t), 0);
		as_yaml_free(t);
		assert_int_equal(same_as_libyaml(empty[i], strlen(empty[i])), 0);
	}
	/* An explicit empty document has a root: an empty plain scalar. */
	t = load_ok("---\n");
	assert_non_null(as_yaml_root(t));
	assert_string_equal(str(t, as_yaml_root(t)), "");
	assert_int_equal(as_yaml_style(as_yaml_root(t)),
			 YAML_PLAIN_SCALAR_STYLE);
	as_yaml_free(t);
	/* Empty containers have no kids. */
	t = load_ok("a: []\nb: {}\n");
	assert_int_equal(as_yaml_len(get(t, as_yaml_root(t), "a")), 0);
	assert_int_equal(as_yaml_len(get(t, as_yaml_root(t), "b")), 0);
	assert_null(as_yaml_item(t, get(t, as_yaml_root(t), "a"), 0));
	as_yaml_free(t);
	assert_int_equal(same_as_libyaml("---\n", 4), 1);
}

static void test_flow_and_block_scalars(void **state)
{
	static const char text[] =
		"{f: [1, 'two', \"th\\0ree\"], ? [k] : v, m: {}}\n"
		"---\n"
		"lit: |\n"
		"  line one\n"
		"  line two\n"
		"fold: >-\n"
		"  folded\n"
		"  text\n"
		"tagged: !!str 5\n";
	struct stream s;
	const ynode *f, *n;
	size_t len;

	(void)state;
	open_stream(&s, text, strlen(text));
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_OK);
	f = get(s.t, as_yaml_root(s.t), "f");
	assert_int_equal(as_yaml_style(as_yaml_item(s.t, f, 1)),
			 YAML_SINGLE_QUOTED_SCALAR_STYLE);
	n = as_yaml_item(s.t, f, 2);
	assert_int_equal(as_yaml_style(n), YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	/* A NUL inside a scalar is kept, with the length to show it. */
	assert_memory_equal(as_yaml_str(s.t, n, &len), "th\0ree", 7);
	assert_int_equal(len, 6);
	/* A complex key is a node like any other. */
	assert_int_equal(as_yaml_type(as_yaml_key(s.t, as_yaml_root(s.t), 1)),
			 AS_YAML_SEQUENCE);
	as_yaml_free(s.t);
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_OK);
	n = get(s.t, as_yaml_root(s.t), "lit");
	assert_string_equal(str(s.t, n), "line one\nline two\n");
	assert_int_equal(as_yaml_style(n), YAML_LITERAL_SCALAR_STYLE);
	assert_int_equal(as_yaml_line(n), 3);
	n = get(s.t, as_yaml_root(s.t), "fold");
	assert_string_equal(str(s.t, n), "folded text");
	assert_int_equal(as_yaml_style(n), YAML_FOLDED_SCALAR_STYLE);
	assert_int_equal(as_yaml_line(n), 6);
	/* Tags are dropped: the text is all that is kept. */
	assert_string_equal(str(s.t, get(s.t, as_yaml_root(s.t), "tagged")),
			    "5");
	close_stream(&s);
	assert_int_equal(same_as_libyaml(text, strlen(text)), 2);
}

/* Deep nesting (up to the limit) grows the work stack and the frame
 * stack; a wide list and a wide map grow the kids and node arrays past
 * several doublings. */
static void test_deep_and_wide(void **state)
{
	/* Each level holds a map holding a list: the innermost is 2 deeper. */
	enum { DEPTH = AS_YAML_MAX_DEPTH - 2, WIDE = 30000 };
	size_t cap = 2 * DEPTH * 8 + WIDE * 24, len = 0;
	char *text = malloc(cap);
	struct as_yaml *t;
	const ynode *n;

	(void)state;
	assert_non_null(text);
	/* [[ ... [x, {k: [d, 0]}, y] ... , 1], 2] at every level: each
	 * level's kids interleave with its child's. */
	for (int i = 0; i < DEPTH; i++)
		text[len++] = '[';
	len += (size_t)snprintf(text + len, cap - len, "x");
	for (int i = DEPTH - 1; i >= 0; i--)
		len += (size_t)snprintf(text + len, cap - len, ", {k: [d%d, %d]}]",
					i, i);
	text[len++] = '\n';
	text[len] = 0;
	t = load_ok(text);
	n = as_yaml_root(t);
	for (int i = 0; i < DEPTH; i++) {
		assert_int_equal(as_yaml_type(n), AS_YAML_SEQUENCE);
		assert_int_equal(as_yaml_len(n), 2);
		const ynode *k = get(t, as_yaml_item(t, n, 1), "k");
		char want[16];
		snprintf(want, sizeof(want), "d%d", i);
		assert_string_equal(str(t, as_yaml_item(t, k, 0)), want);
		n = as_yaml_item(t, n, 0);
	}
	assert_string_equal(str(t, n), "x");
	as_yaml_free(t);
	assert_int_equal(same_as_libyaml(text, len), 1);

	/* A block map of WIDE lists of one scalar each. */
	len = 0;
	for (int i = 0; i < WIDE; i++)
		len += (size_t)snprintf(text + len, cap - len, "k%d: [v%d]\n",
					i, i);
	assert_true(len < cap);
	t = load_ok(text);
	assert_int_equal(as_yaml_len(as_yaml_root(t)), WIDE);
	n = as_yaml_value(t, as_yaml_root(t), WIDE - 1);
	assert_int_equal(as_yaml_line(n), WIDE);
	assert_string_equal(str(t, as_yaml_item(t, n, 0)), "v29999");
	assert_string_equal(str(t, as_yaml_key(t, as_yaml_root(t), 777)),
			    "k777");
	as_yaml_free(t);
	assert_int_equal(same_as_libyaml(text, len), 1);
	free(text);
}

/* Loads text expecting the depth error at line/column (1-based). */
static void expect_too_deep(const char *text, size_t len, size_t line,
			    size_t column)
{
	struct stream s;

	open_stream(&s, text, len);
	assert_int_equal(as_yaml_load(&s.p, &s.t), AS_EPARSE);
	assert_null(s.t);
	assert_int_equal(s.p.error, YAML_COMPOSER_ERROR);
	assert_non_null(strstr(s.p.problem, "nested deeper than 64 levels"));
	assert_int_equal(s.p.problem_mark.line + 1, line);
	assert_int_equal(s.p.problem_mark.column + 1, column);
	close_stream(&s);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Nesting is refused past AS_YAML_MAX_DEPTH, in flow and block style, at
 * the container that goes past it; up to it, and again after the nesting
 * went back up, it loads. A hostile depth fails at once: before the
 * limit, libyaml's scanner made 40,000 nested '[' take seconds and
 * 200,000 over a minute (issue 11). */
static void test_depth_limit(void **state)
{
	enum { D = AS_YAML_MAX_DEPTH, HOSTILE = 200000 };
	char *text = malloc(HOSTILE + 64 * 64 * 4);
	size_t len = 0;
	struct as_yaml *t;

	(void)state;
	assert_non_null(text);
	/* [S, S] with S = D - 1 nested lists: D levels in both siblings (the
	 * depth is limited, not how often it is reached). */
	text[len++] = '[';
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < D - 1; i++)
			text[len++] = '[';
		text[len++] = 'x';
		for (int i = 0; i < D - 1; i++)
			text[len++] = ']';
		text[len++] = k ? ']' : ',';
	}
	text[len] = 0;
	t = load_ok(text);
	assert_int_equal(as_yaml_len(as_yaml_root(t)), 2);
	for (size_t k = 0; k < 2; k++) {
		const ynode *n = as_yaml_item(t, as_yaml_root(t), k);
		for (int i = 1; i < D - 1; i++)
			n = as_yaml_item(t, n, 0);
		assert_string_equal(str(t, as_yaml_item(t, n, 0)), "x");
	}
	as_yaml_free(t);
	/* [[S]]: D + 1 levels, refused at the (D + 1)th '['. */
	len = 0;
	for (int i = 0; i < D + 1; i++)
		text[len++] = '[';
	text[len++] = 'x';
	for (int i = 0; i < D + 1; i++)
		text[len++] = ']';
	text[len] = 0;
	expect_too_deep(text, len, 1, D + 1);

	/* Block maps, one level a line: line D + 1 opens level D + 1. */
	len = 0;
	for (int i = 0; i <= D; i++)
		len += (size_t)sprintf(text + len, "%*sk%d:\n", 2 * i, "", i);
	len += (size_t)sprintf(text + len, "%*sleaf\n", 2 * (D + 1), "");
	expect_too_deep(text, len, D + 1, 2 * D + 1);

	/* Hostile: 200,000 nested '[' and nothing else, refused in well under
	 * a second even under the sanitizers (the bound is 100 times that). */
	memset(text, '[', HOSTILE);
	text[HOSTILE] = '\n';
	double t0 = now_s();
	expect_too_deep(text, HOSTILE + 1, 1, D + 1);
	double took = now_s() - t0;
	assert_true(took < 2.0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_lines),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_alias_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_flow_and_block_scalars),
		cmocka_unit_test(test_deep_and_wide),
		cmocka_unit_test(test_depth_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
