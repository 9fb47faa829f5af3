/*
 * tests/fuzz/fuzz_k8s_kubeconfig.c - libFuzzer harness for the kubeconfig
 * reader (k8s/k8s_conf.c). Success must yield a usable connection (an
 * http(s) server URL, consistent lengths); failure must leave no output
 * and a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s.h"
#include "lib/as.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_k8s_kubeconfig: %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_conn *c = NULL;
	char err[256] = "";
	int rc = k8s_kubeconfig_parse((const char *)data, size, "/etc/kube",
				      &c, err, sizeof(err));

	if (rc == AS_OK) {
		CHECK(c && c->server);
		CHECK(!strncmp(c->server, "http://", 7) || !strncmp(c->server, "https://", 8));
		CHECK(!c->ca_data == !c->ca_len);
		CHECK(!c->cert_data == !c->cert_len);
		CHECK(!c->key_data == !c->key_len);
		k8s_conn_free(c);
	} else {
		CHECK(!c);
		CHECK(rc != AS_ECONFIG || err[0]);
	}
	return 0;
}
