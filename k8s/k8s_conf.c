/*
 * k8s/k8s_conf.c - where the API server is and how to authenticate:
 * the in-cluster service account, or a kubeconfig file.
 *
 * Design. Both produce the same plain struct k8s_conn; the client
 * copies it and never looks at the environment itself. The kubeconfig
 * reader is deliberately small: it reads the first YAML document into
 * lib/'s compact tree (lib/yamltree.h, as the config loader does), picks
 * current-context (or the only context), and takes the cluster's
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
#include "lib/yamltree.h"

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

/* One kubeconfig being read: the tree, where relative paths start, and
 * where a message goes. */
struct kc {
	const struct as_yaml *t;
	const char *dir;
	char *errbuf;
	size_t errlen;
};

typedef struct as_yaml_node ynode;

static const ynode *map_get(const struct kc *k, const ynode *map,
			    const char *key)
{
	if (!map || as_yaml_type(map) != AS_YAML_MAPPING)
		return NULL;
	for (size_t i = 0; i < as_yaml_len(map); i++) {
		const ynode *kn = as_yaml_key(k->t, map, i);

		if (as_yaml_type(kn) == AS_YAML_SCALAR &&
		    !strcmp(as_yaml_str(k->t, kn, NULL), key))
			return as_yaml_value(k->t, map, i);
	}
	return NULL;
}

static const char *scalar(const struct kc *k, const ynode *n)
{
	if (!n || as_yaml_type(n) != AS_YAML_SCALAR)
		return NULL;
	return as_yaml_str(k->t, n, NULL);
}

/* The "field" mapping of the entry named name in the list at key. */
static const ynode *named(const struct kc *k, const ynode *root,
			  const char *list, const char *field, const char *name)
{
	const ynode *seq = map_get(k, root, list);

	if (!seq || as_yaml_type(seq) != AS_YAML_SEQUENCE)
		return NULL;
	for (size_t i = 0; i < as_yaml_len(seq); i++) {
		const ynode *e = as_yaml_item(k->t, seq, i);
		const char *n = scalar(k, map_get(k, e, "name"));

		if (n && name && !strcmp(n, name))
			return map_get(k, e, field);
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
static int file_or_data(const struct kc *k, const ynode *m, const char *key,
			char **path, uint8_t **data, size_t *len)
{
	char dkey[64];
	const char *p = scalar(k, map_get(k, m, key)), *d;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	d = scalar(k, map_get(k, m, dkey));
	if (d && *d) {
		int rc = b64(d, data, len);

		if (rc == AS_EPARSE)
			return fail(k->errbuf, k->errlen, "kubeconfig: %s is not base64",
				    dkey);
		return rc;
	}
	if (p && *p) {
		*path = path_join(k->dir, p);
		return *path ? AS_OK : AS_ENOMEM;
	}
	return AS_OK;
}

/* Step 1: the text into a tree (the first document only, as kubectl). */
static int kc_load(const char *text, size_t len, struct as_yaml **out,
		   char *errbuf, size_t errlen)
{
	yaml_parser_t parser;
	int rc;

	*out = NULL;
	if (len > KUBECONFIG_MAX)
		return fail(errbuf, errlen, "kubeconfig: larger than %d bytes",
			    KUBECONFIG_MAX);
	if (!yaml_parser_initialize(&parser))
		return AS_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	rc = as_yaml_load(&parser, out);
	if (rc == AS_EPARSE)
		rc = fail(errbuf, errlen, "kubeconfig:%zu: %s",
			  parser.problem_mark.line + 1,
			  parser.problem ? parser.problem : "YAML error");
	yaml_parser_delete(&parser);
	return rc;
}

/* Step 2: current-context (or the only context) to its cluster and user
 * mappings; *user stays NULL when the context names none. */
static int kc_context(const struct kc *k, const ynode *root,
		      const ynode **cluster, const ynode **user)
{
	const ynode *ctx;
	const char *name, *s;

	*cluster = *user = NULL;
	name = scalar(k, map_get(k, root, "current-context"));
	if (!name || !*name) {
		/* No current-context: accept a file with exactly one. */
		const ynode *seq = map_get(k, root, "contexts");

		if (seq && as_yaml_type(seq) == AS_YAML_SEQUENCE &&
		    as_yaml_len(seq) == 1)
			name = scalar(k, map_get(k, as_yaml_item(k->t, seq, 0),
						 "name"));
	}
	if (!name)
		return fail(k->errbuf, k->errlen, "kubeconfig: no current-context");
	ctx = named(k, root, "contexts", "context", name);
	if (!ctx)
		return fail(k->errbuf, k->errlen,
			    "kubeconfig: context \"%s\" not found", name);
	s = scalar(k, map_get(k, ctx, "cluster"));
	*cluster = named(k, root, "clusters", "cluster", s);
	if (!*cluster)
		return fail(k->errbuf, k->errlen,
			    "kubeconfig: cluster \"%s\" not found", s ? s : "");
	s = scalar(k, map_get(k, ctx, "user"));
	*user = s ? named(k, root, "users", "user", s) : NULL;
	if (s && !*user)
		return fail(k->errbuf, k->errlen,
			    "kubeconfig: user \"%s\" not found", s);
	return AS_OK;
}

/* Step 3: the cluster's server URL and how to trust it. */
static int kc_cluster(const struct kc *k, const ynode *cluster,
		      struct k8s_conn *c)
{
	const char *s = scalar(k, map_get(k, cluster, "server"));

	if (!s || (strncmp(s, "https://", 8) && strncmp(s, "http://", 7)) ||
	    !strstr(s, "://")[3] || strstr(s, "://")[3] == '/')
		return fail(k->errbuf, k->errlen, "kubeconfig: cluster server "
			    "must be an http(s)://host URL");
	c->server = strndup(s, strlen(s) - (s[strlen(s) - 1] == '/'));
	if (!c->server)
		return AS_ENOMEM;
	s = scalar(k, map_get(k, cluster, "insecure-skip-tls-verify"));
	c->insecure = s && !strcmp(s, "true");
	return file_or_data(k, cluster, "certificate-authority", &c->ca_file,
			    &c->ca_data, &c->ca_len);
}

/* Step 4: the user's credentials; nothing that runs code. */
static int kc_user(const struct kc *k, const ynode *user, struct k8s_conn *c)
{
	const char *s;
	int rc;

	if (map_get(k, user, "exec") || map_get(k, user, "auth-provider"))
		return fail(k->errbuf, k->errlen, "kubeconfig: exec and "
			    "auth-provider users are not supported; use a token, "
			    "tokenFile or client certificate");
	s = scalar(k, map_get(k, user, "token"));
	if (s && *s && !(c->token = strdup(s)))
		return AS_ENOMEM;
	s = scalar(k, map_get(k, user, "tokenFile"));
	if (s && *s && !(c->token_file = path_join(k->dir, s)))
		return AS_ENOMEM;
	rc = file_or_data(k, user, "client-certificate", &c->cert_file,
			  &c->cert_data, &c->cert_len);
	if (!rc)
		rc = file_or_data(k, user, "client-key", &c->key_file,
				  &c->key_data, &c->key_len);
	if (rc)
		return rc;
	if (!(c->cert_file || c->cert_data) != !(c->key_file || c->key_data))
		return fail(k->errbuf, k->errlen, "kubeconfig: client-certificate "
			    "and client-key go together");
	return AS_OK;
}

int k8s_kubeconfig_parse(const char *text, size_t len, const char *dir,
			 struct k8s_conn **out, char *errbuf, size_t errlen)
{
	struct as_yaml *t = NULL;
	struct kc k = { .dir = dir, .errbuf = errbuf, .errlen = errlen };
	const ynode *root, *cluster, *user;
	struct k8s_conn *c = NULL;
	int rc;

	*out = NULL;
	rc = kc_load(text, len, &t, errbuf, errlen);
	if (rc)
		return rc;
	k.t = t;
	root = as_yaml_root(t);
	if (!root || as_yaml_type(root) != AS_YAML_MAPPING) {
		rc = fail(errbuf, errlen, "kubeconfig: not a mapping");
		goto out;
	}
	rc = kc_context(&k, root, &cluster, &user);
	if (rc)
		goto out;
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = AS_ENOMEM;
		goto out;
	}
	rc = kc_cluster(&k, cluster, c);
	if (!rc && user)
		rc = kc_user(&k, user, c);
	if (rc)
		goto out;
	*out = c;
	c = NULL;
out:
	k8s_conn_free(c);
	as_yaml_free(t);
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
