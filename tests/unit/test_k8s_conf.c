/*
 * tests/unit/test_k8s_conf.c - in-cluster configuration and the kubeconfig
 * reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/k8s.h"
#include "lib/as.h"

static int parse(const char *text, struct k8s_conn **c, char *err,
		 size_t errlen)
{
	return k8s_kubeconfig_parse(text, strlen(text), "/etc/kube", c, err,
				    errlen);
}

static void test_in_cluster(void **state)
{
	struct k8s_conn *c;
	char err[256];

	assert_int_equal(k8s_conn_in_cluster("/sa", "fd00:10:96::1", "443", &c,
					     err, sizeof(err)), AS_OK);
	assert_string_equal(c->server, "https://[fd00:10:96::1]:443");
	assert_string_equal(c->token_file, "/sa/token");
	assert_string_equal(c->ca_file, "/sa/ca.crt");
	assert_null(c->token);
	assert_false(c->insecure);
	k8s_conn_free(c);

	assert_int_equal(k8s_conn_in_cluster(NULL, "10.96.0.1", "6443", &c,
					     err, sizeof(err)), AS_OK);
	assert_string_equal(c->server, "https://10.96.0.1:6443");
	assert_string_equal(c->token_file, K8S_SA_DIR "/token");
	k8s_conn_free(c);

	/* From the environment, and its absence. */
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(k8s_conn_in_cluster("/x", NULL, NULL, &c, err,
					     sizeof(err)), AS_OK);
	assert_string_equal(c->server, "https://[fd00::1]:443");
	k8s_conn_free(c);
	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	assert_int_equal(k8s_conn_in_cluster("/x", NULL, NULL, &c, err,
					     sizeof(err)), AS_ECONFIG);
	assert_null(c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(k8s_conn_in_cluster("/x", NULL, NULL, &c, err,
					     sizeof(err)), AS_ECONFIG);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static const char kc_token[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: other\n"
	"  cluster:\n"
	"    server: https://other.example:6443\n"
	"- name: edge\n"
	"  cluster:\n"
	"    server: https://[fd00::10]:6443/\n"
	"    certificate-authority: pki/ca.crt\n"
	"contexts:\n"
	"- name: edge-admin\n"
	"  context:\n"
	"    cluster: edge\n"
	"    user: anysteer\n"
	"    namespace: anysteer\n"
	"current-context: edge-admin\n"
	"users:\n"
	"- name: anysteer\n"
	"  user:\n"
	"    token: abc.def\n"
	"    tokenFile: /run/token\n";

static void test_kubeconfig_token(void **state)
{
	struct k8s_conn *c;
	char err[256] = "";

	assert_int_equal(parse(kc_token, &c, err, sizeof(err)), AS_OK);
	assert_string_equal(c->server, "https://[fd00::10]:6443");
	assert_string_equal(c->ca_file, "/etc/kube/pki/ca.crt");
	assert_string_equal(c->token, "abc.def");
	assert_string_equal(c->token_file, "/run/token");
	assert_null(c->cert_file);
	k8s_conn_free(c);
}

static void test_kubeconfig_cert_data(void **state)
{
	struct k8s_conn *c;
	char err[256] = "";
	/* base64 of "CA-PEM", "CERT", "KEY". */
	const char *kc =
		"clusters:\n"
		"- name: k\n"
		"  cluster:\n"
		"    server: https://k:443\n"
		"    certificate-authority-data: Q0EtUEVN\n"
		"    insecure-skip-tls-verify: true\n"
		"contexts:\n"
		"- name: only\n"
		"  context: {cluster: k, user: u}\n"
		"users:\n"
		"- name: u\n"
		"  user:\n"
		"    client-certificate-data: Q0VSVA==\n"
		"    client-key-data: S0VZ\n";

	assert_int_equal(parse(kc, &c, err, sizeof(err)), AS_OK);
	assert_int_equal(c->ca_len, 6);
	assert_memory_equal(c->ca_data, "CA-PEM", 6);
	assert_true(c->insecure);
	assert_int_equal(c->cert_len, 4);
	assert_memory_equal(c->cert_data, "CERT", 4);
	assert_int_equal(c->key_len, 3);
	assert_memory_equal(c->key_data, "KEY", 3);
	assert_null(c->token);
	k8s_conn_free(c);
}

static void test_kubeconfig_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "not a mapping" },
		{ "[1, 2", "kubeconfig:" },
		{ "current-context: x\n", "context \"x\" not found" },
		{ "contexts:\n- name: a\n- name: b\n", "no current-context" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n",
		  "cluster \"c\" not found" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: ftp://x}\n", "http(s)://" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: https://}\n", "http(s)://host" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: http:///x}\n", "http(s)://host" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: https://x}\n", "user \"u\" not found" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: https://x}\n"
		  "users:\n- name: u\n  user: {exec: {command: aws}}\n", "not supported" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: https://x}\n"
		  "users:\n- name: u\n  user: {client-certificate: /c.pem}\n", "go together" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: https://x, "
		  "certificate-authority-data: '!!!'}\n", "not base64" },
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(cases); i++) {
		struct k8s_conn *c = (void *)1;
		char err[256] = "";

		assert_int_equal(parse(cases[i].text, &c, err, sizeof(err)), AS_ECONFIG);
		assert_null(c);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].msg);
	}
}

static void test_kubeconfig_file(void **state)
{
	char dir[] = "/tmp/k8sconfXXXXXX", path[64], err[256] = "";
	struct k8s_conn *c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(kc_token, f);
	fclose(f);
	assert_int_equal(k8s_kubeconfig_load(path, &c, err, sizeof(err)), AS_OK);
	/* Relative paths resolve against the file's directory. */
	assert_true(!strncmp(c->ca_file, dir, strlen(dir)));
	assert_string_equal(c->ca_file + strlen(dir), "/pki/ca.crt");
	k8s_conn_free(c);
	unlink(path);
	rmdir(dir);
	assert_int_equal(k8s_kubeconfig_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_kubeconfig_token),
		cmocka_unit_test(test_kubeconfig_cert_data),
		cmocka_unit_test(test_kubeconfig_errors),
		cmocka_unit_test(test_kubeconfig_file),
	};

	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
