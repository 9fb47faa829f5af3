/*
 * Tests for the gossip keyring: rotation semantics and the keyring file
 * (mode 0600, atomic save, clear errors on load).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gossip/gossip.h"
#include "lib/as.h"

static char dir[] = "/tmp/test_gossip_keyring.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void test_rotation(void **state)
{
	struct gossip_keyring *kr = gossip_keyring_new();
	uint8_t k[GOSSIP_KEYS_MAX + 1][32], out[32];
	bool primary;
	for (int i = 0; i <= GOSSIP_KEYS_MAX; i++)
		gossip_key_generate(k[i]);
	assert_non_null(kr);
	assert_int_equal(gossip_keyring_count(kr), 0);
	assert_int_equal(gossip_keyring_install(kr, k[0]), AS_OK);
	assert_int_equal(gossip_keyring_install(kr, k[0]), AS_EEXIST);
	assert_int_equal(gossip_keyring_install(kr, k[1]), AS_OK);
	/* the first installed key is the primary */
	assert_int_equal(gossip_keyring_get(kr, 0, out, &primary), AS_OK);
	assert_true(primary);
	assert_memory_equal(out, k[0], 32);
	assert_int_equal(gossip_keyring_use(kr, k[1]), AS_OK);
	assert_int_equal(gossip_keyring_get(kr, 0, out, &primary), AS_OK);
	assert_memory_equal(out, k[1], 32);
	assert_int_equal(gossip_keyring_get(kr, 1, out, &primary), AS_OK);
	assert_false(primary);
	assert_memory_equal(out, k[0], 32);
	assert_int_equal(gossip_keyring_remove(kr, k[1]), AS_ESTATE);
	assert_int_equal(gossip_keyring_remove(kr, k[0]), AS_OK);
	assert_int_equal(gossip_keyring_remove(kr, k[0]), AS_ENOTFOUND);
	assert_int_equal(gossip_keyring_use(kr, k[0]), AS_ENOTFOUND);
	assert_int_equal(gossip_keyring_count(kr), 1);
	assert_int_equal(gossip_keyring_get(kr, 1, out, NULL), AS_ENOTFOUND);
	for (int i = 2; i <= GOSSIP_KEYS_MAX; i++)
		assert_int_equal(gossip_keyring_install(kr, k[i]), AS_OK);
	assert_int_equal(gossip_keyring_count(kr), GOSSIP_KEYS_MAX);
	assert_int_equal(gossip_keyring_install(kr, k[0]), AS_ELIMIT);
	gossip_keyring_free(kr);
}

static void test_key_text(void **state)
{
	uint8_t k[32], back[32];
	char b64[GOSSIP_KEY_B64_LEN];
	gossip_key_generate(k);
	gossip_key_format(k, b64);
	assert_int_equal(strlen(b64), 44);
	assert_int_equal(gossip_key_parse(b64, back), AS_OK);
	assert_memory_equal(k, back, 32);
	assert_int_equal(gossip_key_parse("c2hvcnQ=", back), AS_EPARSE);
	b64[3] = '*';
	assert_int_equal(gossip_key_parse(b64, back), AS_EPARSE);
	assert_int_equal(gossip_key_parse("", back), AS_EPARSE);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_file_roundtrip(void **state)
{
	struct gossip_keyring *kr = gossip_keyring_new(), *back = NULL;
	uint8_t k1[32], k2[32], out[32];
	char path[512], err[256];
	struct stat st;
	gossip_key_generate(k1);
	gossip_key_generate(k2);
	gossip_keyring_install(kr, k1);
	gossip_keyring_install(kr, k2);
	gossip_keyring_use(kr, k2);
	snprintf(path, sizeof(path), "%s/keyring", dir);
	assert_int_equal(gossip_keyring_save(kr, path), AS_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(gossip_keyring_load(path, &back, err, sizeof(err)), AS_OK);
	assert_int_equal(gossip_keyring_count(back), 2);
	gossip_keyring_get(back, 0, out, NULL);
	assert_memory_equal(out, k2, 32);	/* primary kept first */
	gossip_keyring_get(back, 1, out, NULL);
	assert_memory_equal(out, k1, 32);
	/* saving over an existing file keeps the mode */
	assert_int_equal(gossip_keyring_save(back, path), AS_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	gossip_keyring_free(kr);
	gossip_keyring_free(back);
}

static void test_file_errors(void **state)
{
	struct gossip_keyring *kr = NULL;
	char path[512], err[256], text[512], b64[GOSSIP_KEY_B64_LEN];
	uint8_t k[32];
	gossip_key_generate(k);
	gossip_key_format(k, b64);
	snprintf(path, sizeof(path), "%s/bad", dir);

	assert_int_equal(gossip_keyring_load("/nonexistent/keyring", &kr, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));

	snprintf(text, sizeof(text), "%s\n", b64);
	write_text(path, text, 0644);
	assert_int_equal(gossip_keyring_load(path, &kr, err, sizeof(err)), AS_ECONFIG);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(kr);

	snprintf(text, sizeof(text), "# comment\n\n  %s  \nnot-a-key\n", b64);
	write_text(path, text, 0600);
	assert_int_equal(gossip_keyring_load(path, &kr, err, sizeof(err)), AS_EPARSE);
	assert_non_null(strstr(err, ":4:"));

	snprintf(text, sizeof(text), "%s\n%s\n", b64, b64);
	write_text(path, text, 0600);
	assert_int_equal(gossip_keyring_load(path, &kr, err, sizeof(err)), AS_EEXIST);
	assert_non_null(strstr(err, "duplicate"));

	write_text(path, "# nothing here\n", 0600);
	assert_int_equal(gossip_keyring_load(path, &kr, err, sizeof(err)), AS_ECONFIG);
	assert_non_null(strstr(err, "no keys"));

	snprintf(text, sizeof(text), "# comment\n  %s  \r\n", b64);
	write_text(path, text, 0400);
	assert_int_equal(gossip_keyring_load(path, &kr, err, sizeof(err)), AS_OK);
	assert_int_equal(gossip_keyring_count(kr), 1);
	gossip_keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_key_text),
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_file_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
