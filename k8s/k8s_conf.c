/*
 * k8s/k8s_conf.c - where the API server is and how to authenticate:
 * the in-cluster service account, or a kubeconfig file.
 *
 * Design. Both produce the same plain struct k8s_conn; the client
 * copies it and never looks at the environment itself. The kubeconfig
 * reader is deliberately small: it loads the YAML document with libyaml,
 * picks current-context (or the only context), and takes the cluster's
 * server / certificate-authority(-data) / insecure-skip-tls-verify and
 * the user's token / tokenFile / client-certificate(-data) /
 * client-key(-data). Anything that needs to run code (exec, auth-provider)
 * is refused with a clear message rather than half supported. The parser
 * takes text, so it is unit tested without files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <yaml.h>

#include "k8s/k8s.h"
#include "lib/as.h"

#define KUBECONFIG_MAX (4 << 20)

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return AS_ECONFIG;
}

void k8s_conn_free(struct k8s_conn *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	if (c->token)
		sodium_memzero(c->token, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	if (c->key_data)
		sodium_memzero(c->key_data, c->key_len);
	free(c->key_data);
	free(c);
}

static char *path_join(const char *dir, const char *p)
{
	char *out;

	if (!dir || !*dir || p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

int k8s_conn_in_cluster(const char *sa_dir, const char *host,
			const char *port, struct k8s_conn **out,
			char *errbuf, size_t errlen)
{
	struct k8s_conn *c;
	int rc = AS_ENOMEM;

	*out = NULL;
	if (!sa_dir)
		sa_dir = K8S_SA_DIR;
	if (!host)
		host = getenv("KUBERNETES_SERVICE_HOST");
	if (!port)
		port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host || !port || !*port)
		return fail(errbuf, errlen, "KUBERNETES_SERVICE_HOST/PORT not set: "
			    "not running in a cluster (set kubernetes.kubeconfig)");
	if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
		return fail(errbuf, errlen, "KUBERNETES_SERVICE_PORT \"%s\" is not a port",
			    port);
	c = calloc(1, sizeof(*c));
	if (!c)
		return AS_ENOMEM;
	/* An IPv6 literal needs brackets in a URL. */
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0) {
		c->server = NULL;
		goto out;
	}
	c->token_file = path_join(sa_dir, "token");
	c->ca_file = path_join(sa_dir, "ca.crt");
	if (!c->token_file || !c->ca_file)
		goto out;
	*out = c;
	c = NULL;
	rc = AS_OK;
out:
	k8s_conn_free(c);
	return rc;
}

/* ---- kubeconfig ---------------------------------------------------------------- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map,
			    const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

/* The "field" mapping of the entry named name in the list at key. */
static yaml_node_t *named(yaml_document_t *doc, yaml_node_t *root,
			  const char *list, const char *field, const char *name)
{
	yaml_node_t *seq = map_get(doc, root, list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start;
	     i < seq->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(doc, *i);
		const char *n = scalar(map_get(doc, e, "name"));

		if (n && name && !strcmp(n, name))
			return map_get(doc, e, field);
	}
	return NULL;
}

static int b64(const char *in, uint8_t **out, size_t *len)
{
	size_t il = strlen(in), bl;
	uint8_t *buf = malloc(il + 1);

	if (!buf)
		return AS_ENOMEM;
	if (sodium_base642bin(buf, il + 1, in, il, " \t\r\n", &bl, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || !bl) {
		free(buf);
		return AS_EPARSE;
	}
	*out = buf;
	*len = bl;
	return AS_OK;
}

/* A path or inline base64 pair: "x" and "x-data". */
static int file_or_data(yaml_document_t *doc, yaml_node_t *m, const char *key,
			const char *dir, char **path, uint8_t **data,
			size_t *len, char *errbuf, size_t errlen)
{
	char dkey[64];
	const char *p = scalar(map_get(doc, m, key)), *d;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	d = scalar(map_get(doc, m, dkey));
	if (d && *d) {
		int rc = b64(d, data, len);

		if (rc == AS_EPARSE)
			return fail(errbuf, errlen, "kubeconfig: %s is not base64", dkey);
		return rc;
	}
	if (p && *p) {
		*path = path_join(dir, p);
		return *path ? AS_OK : AS_ENOMEM;
	}
	return AS_OK;
}

int k8s_kubeconfig_parse(const char *text, size_t len, const char *dir,
			 struct k8s_conn **out, char *errbuf,
			 size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *ctx, *cluster, *user;
	struct k8s_conn *c = NULL;
	const char *name, *s;
	int rc;

	*out = NULL;
	if (len > KUBECONFIG_MAX)
		return fail(errbuf, errlen, "kubeconfig: larger than %d bytes",
			    KUBECONFIG_MAX);
	if (!yaml_parser_initialize(&parser))
		return AS_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = fail(errbuf, errlen, "kubeconfig:%zu: %s",
			  parser.problem_mark.line + 1,
			  parser.problem ? parser.problem : "YAML error");
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_parser_delete(&parser);

	root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		rc = fail(errbuf, errlen, "kubeconfig: not a mapping");
		goto out;
	}
	name = scalar(map_get(&doc, root, "current-context"));
	if (!name || !*name) {
		/* No current-context: accept a file with exactly one. */
		yaml_node_t *seq = map_get(&doc, root, "contexts");

		if (seq && seq->type == YAML_SEQUENCE_NODE &&
		    seq->data.sequence.items.top - seq->data.sequence.items.start == 1)
			name = scalar(map_get(&doc, yaml_document_get_node(&doc,
				*seq->data.sequence.items.start), "name"));
	}
	if (!name) {
		rc = fail(errbuf, errlen, "kubeconfig: no current-context");
		goto out;
	}
	ctx = named(&doc, root, "contexts", "context", name);
	if (!ctx) {
		rc = fail(errbuf, errlen, "kubeconfig: context \"%s\" not found", name);
		goto out;
	}
	s = scalar(map_get(&doc, ctx, "cluster"));
	cluster = named(&doc, root, "clusters", "cluster", s);
	if (!cluster) {
		rc = fail(errbuf, errlen, "kubeconfig: cluster \"%s\" not found",
			  s ? s : "");
		goto out;
	}
	s = scalar(map_get(&doc, ctx, "user"));
	user = s ? named(&doc, root, "users", "user", s) : NULL;
	if (s && !user) {
		rc = fail(errbuf, errlen, "kubeconfig: user \"%s\" not found", s);
		goto out;
	}

	rc = AS_ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	s = scalar(map_get(&doc, cluster, "server"));
	if (!s || (strncmp(s, "https://", 8) && strncmp(s, "http://", 7)) ||
	    !strstr(s, "://")[3] || strstr(s, "://")[3] == '/') {
		rc = fail(errbuf, errlen, "kubeconfig: cluster server must be an "
			  "http(s)://host URL");
		goto out;
	}
	c->server = strndup(s, strlen(s) - (s[strlen(s) - 1] == '/'));
	if (!c->server)
		goto out;
	s = scalar(map_get(&doc, cluster, "insecure-skip-tls-verify"));
	c->insecure = s && !strcmp(s, "true");
	rc = file_or_data(&doc, cluster, "certificate-authority", dir, &c->ca_file,
			  &c->ca_data, &c->ca_len, errbuf, errlen);
	if (rc)
		goto out;
	if (user) {
		if (map_get(&doc, user, "exec") || map_get(&doc, user, "auth-provider")) {
			rc = fail(errbuf, errlen, "kubeconfig: exec and auth-provider "
				  "users are not supported; use a token, tokenFile or "
				  "client certificate");
			goto out;
		}
		rc = AS_ENOMEM;
		s = scalar(map_get(&doc, user, "token"));
		if (s && *s && !(c->token = strdup(s)))
			goto out;
		s = scalar(map_get(&doc, user, "tokenFile"));
		if (s && *s && !(c->token_file = path_join(dir, s)))
			goto out;
		rc = file_or_data(&doc, user, "client-certificate", dir, &c->cert_file,
				  &c->cert_data, &c->cert_len, errbuf, errlen);
		if (!rc)
			rc = file_or_data(&doc, user, "client-key", dir, &c->key_file,
					  &c->key_data, &c->key_len, errbuf, errlen);
		if (rc)
			goto out;
		if (!(c->cert_file || c->cert_data) != !(c->key_file || c->key_data)) {
			rc = fail(errbuf, errlen, "kubeconfig: client-certificate and "
				  "client-key go together");
			goto out;
		}
	}
	*out = c;
	c = NULL;
	rc = AS_OK;
out:
	k8s_conn_free(c);
	yaml_document_delete(&doc);
	return rc;
}

int k8s_kubeconfig_load(const char *path, struct k8s_conn **out,
			char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *dir = NULL, *slash;
	size_t n;
	int rc;

	*out = NULL;
	if (!f) {
		rc = -errno;
		fail(errbuf, errlen, "kubeconfig %s: %s", path, as_strerror(rc));
		return rc;
	}
	buf = malloc(KUBECONFIG_MAX + 1);
	if (!buf) {
		fclose(f);
		return AS_ENOMEM;
	}
	n = fread(buf, 1, KUBECONFIG_MAX + 1, f);
	if (ferror(f)) {
		rc = fail(errbuf, errlen, "kubeconfig %s: read error", path);
		goto out;
	}
	dir = strdup(path);
	if (!dir) {
		rc = AS_ENOMEM;
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	rc = k8s_kubeconfig_parse(buf, n, slash == dir ? "/" : dir, out,
				  errbuf, errlen);
out:
	fclose(f);
	free(buf);
	free(dir);
	return rc;
}
