/*
 * gossip/crypto.c - the keyring and packet sealing.
 *
 * A packet is header (version, flags) + nonce + XChaCha20-Poly1305 of the
 * envelope; the additional data is the header followed by the cluster
 * label, so a packet from another cluster or with a tampered header fails
 * authentication even under the same key (the envelope need not carry the
 * label then: core.c leaves it empty in sealed packets).
 *
 * Nonces (wire version 3; version 1 sent 24 random-prefix bytes): the
 * 192-bit XChaCha20 nonce is a 96-bit random prefix, a 32-bit counter and
 * 64 zero bits, and a packet carries only the first 16 bytes. The prefix
 * is drawn per key epoch (keyring made, primary changed, counter wrapped),
 * so no packet costs a getrandom() call and nothing is persisted. Safety
 * (XChaCha20-Poly1305 must never see a (key, nonce) pair twice): one
 * keyring never repeats a nonce (the counter runs once through 2^32 per
 * prefix), and two prefixes drawn under one key collide with probability
 * at most D^2 / 2^97 for D draws: 2^-37 even for a billion process starts
 * and rotations under one key. (A random 128-bit nonce per packet would
 * be about as safe; the counter makes a repeat within one keyring
 * impossible rather than unlikely, and testable.) The receiver pads the
 * 16 bytes with zeros; a packet whose nonce was tampered with fails
 * authentication like any other tampered byte.
 *
 * The keyring holds up to GOSSIP_KEYS_MAX keys with one primary: sealing
 * uses the primary, opening tries every key, so a rotation is install
 * everywhere, use everywhere, remove everywhere with no lost packets. Key
 * bytes live in sodium_malloc'd memory (guarded, not swapped) and are
 * wiped on removal.
 *
 * A stream frame's header is sealed the same way with its own version byte
 * (GOSSIP_STREAM_VERSION): its plaintext is the 4-byte length of the packet
 * that follows, so a receiver learns an authenticated length from the
 * first 46 bytes of a connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gossip/gossip.h"
#include "gossip/internal.h"
#include "lib/as.h"

struct gossip_keyring {
	size_t n;			/* keys[0] is the primary */
	uint8_t (*keys)[GOSSIP_KEY_LEN];
	/* Nonces (see above): a random prefix per key epoch and a counter. */
	uint8_t nonce_prefix[GOSSIP_NONCE_PREFIX];
	uint32_t nonce_ctr;		/* nonces used under this prefix */
};

/* A new key epoch for nonces: a fresh prefix, the counter from 0. */
static void nonce_epoch(struct gossip_keyring *kr)
{
	randombytes_buf(kr->nonce_prefix, sizeof(kr->nonce_prefix));
	kr->nonce_ctr = 0;
}

/* The next 24-byte nonce: prefix, big-endian counter, zeros. */
static void nonce_next(struct gossip_keyring *kr, uint8_t nonce[GOSSIP_NONCE_LEN])
{
	uint32_t ctr;
	if (kr->nonce_ctr == UINT32_MAX)
		nonce_epoch(kr);	/* never wrap onto a used nonce */
	ctr = kr->nonce_ctr++;
	memcpy(nonce, kr->nonce_prefix, GOSSIP_NONCE_PREFIX);
	nonce[GOSSIP_NONCE_PREFIX] = (uint8_t)(ctr >> 24);
	nonce[GOSSIP_NONCE_PREFIX + 1] = (uint8_t)(ctr >> 16);
	nonce[GOSSIP_NONCE_PREFIX + 2] = (uint8_t)(ctr >> 8);
	nonce[GOSSIP_NONCE_PREFIX + 3] = (uint8_t)ctr;
	memset(nonce + GOSSIP_PKT_NONCE_LEN, 0, GOSSIP_NONCE_LEN - GOSSIP_PKT_NONCE_LEN);
}

void gossip_keyring_nonce_skip(struct gossip_keyring *kr, uint32_t ctr)
{
	kr->nonce_ctr = ctr;
}

struct gossip_keyring *gossip_keyring_new(void)
{
	struct gossip_keyring *kr;
	if (sodium_init() < 0)
		return NULL;
	kr = calloc(1, sizeof(*kr));
	if (!kr)
		return NULL;
	kr->keys = sodium_malloc(GOSSIP_KEYS_MAX * GOSSIP_KEY_LEN);
	if (!kr->keys) {
		free(kr);
		return NULL;
	}
	sodium_memzero(kr->keys, GOSSIP_KEYS_MAX * GOSSIP_KEY_LEN);
	nonce_epoch(kr);
	return kr;
}

void gossip_keyring_free(struct gossip_keyring *kr)
{
	if (!kr)
		return;
	sodium_free(kr->keys);	/* wipes */
	free(kr);
}

size_t gossip_keyring_count(const struct gossip_keyring *kr)
{
	return kr ? kr->n : 0;
}

static int find_key(const struct gossip_keyring *kr, const uint8_t *key)
{
	for (size_t i = 0; i < kr->n; i++)
		if (sodium_memcmp(kr->keys[i], key, GOSSIP_KEY_LEN) == 0)
			return (int)i;
	return -1;
}

int gossip_keyring_install(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
	if (find_key(kr, key) >= 0)
		return AS_EEXIST;
	if (kr->n >= GOSSIP_KEYS_MAX)
		return AS_ELIMIT;
	memcpy(kr->keys[kr->n++], key, GOSSIP_KEY_LEN);
	return AS_OK;
}

int gossip_keyring_use(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
	uint8_t tmp[GOSSIP_KEY_LEN];
	int i = find_key(kr, key);
	if (i < 0)
		return AS_ENOTFOUND;
	memcpy(tmp, kr->keys[0], GOSSIP_KEY_LEN);
	memcpy(kr->keys[0], kr->keys[i], GOSSIP_KEY_LEN);
	memcpy(kr->keys[i], tmp, GOSSIP_KEY_LEN);
	sodium_memzero(tmp, sizeof(tmp));
	if (i != 0)
		nonce_epoch(kr);	/* a new primary: a new epoch */
	return AS_OK;
}

int gossip_keyring_remove(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
	int i = find_key(kr, key);
	if (i < 0)
		return AS_ENOTFOUND;
	if (i == 0)
		return AS_ESTATE;
	memmove(kr->keys[i], kr->keys[i + 1], (kr->n - (size_t)i - 1) * GOSSIP_KEY_LEN);
	kr->n--;
	sodium_memzero(kr->keys[kr->n], GOSSIP_KEY_LEN);
	return AS_OK;
}

int gossip_keyring_get(const struct gossip_keyring *kr, size_t i,
		       uint8_t key[GOSSIP_KEY_LEN], bool *primary)
{
	if (i >= kr->n)
		return AS_ENOTFOUND;
	memcpy(key, kr->keys[i], GOSSIP_KEY_LEN);
	if (primary)
		*primary = i == 0;
	return AS_OK;
}

void gossip_key_format(const uint8_t key[GOSSIP_KEY_LEN], char out[GOSSIP_KEY_B64_LEN])
{
	sodium_bin2base64(out, GOSSIP_KEY_B64_LEN, key, GOSSIP_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int gossip_key_parse(const char *b64, uint8_t key[GOSSIP_KEY_LEN])
{
	size_t n = 0, len = strlen(b64);
	const char *end = NULL;
	if (sodium_init() < 0)
		return AS_ECRYPTO;
	if (len != GOSSIP_KEY_B64_LEN - 1)
		return AS_EPARSE;
	if (sodium_base642bin(key, GOSSIP_KEY_LEN, b64, len, NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != GOSSIP_KEY_LEN || end != b64 + len)
		return AS_EPARSE;
	return AS_OK;
}

void gossip_key_generate(uint8_t key[GOSSIP_KEY_LEN])
{
	if (sodium_init() >= 0)
		randombytes_buf(key, GOSSIP_KEY_LEN);
}

/* Opens a keyring file for reading, refusing anything but a regular
 * file that group and others cannot access. */
static int open_private(const char *path, FILE **out, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "keyring %s: cannot open: %s", path, as_strerror(rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "keyring %s: %s", path, as_strerror(rc));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		snprintf(err, errlen,
			 "keyring %s: mode %03o, must be a regular file not accessible "
			 "by group or others (chmod 600)", path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return AS_ECONFIG;
	}
	*out = fdopen(fd, "r");
	if (!*out) {
		rc = -errno;
		close(fd);
		snprintf(err, errlen, "keyring %s: %s", path, as_strerror(rc));
		return rc;
	}
	return AS_OK;
}

/* Installs the keys of f, one base64 key a line ('#' comments, blank
 * lines), into kr. The line buffer is wiped: it held key material. */
static int read_keys(FILE *f, const char *path, struct gossip_keyring *kr,
		     char *err, size_t errlen)
{
	char line[512];
	int rc = AS_OK, lineno = 0;

	while (fgets(line, sizeof(line), f)) {
		uint8_t key[GOSSIP_KEY_LEN];
		char *s = line, *e;
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = AS_EPARSE;
			snprintf(err, errlen, "keyring %s:%d: line too long", path, lineno);
			goto out;
		}
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		if (gossip_key_parse(s, key) != AS_OK) {
			rc = AS_EPARSE;
			snprintf(err, errlen, "keyring %s:%d: not a base64 32-byte key", path, lineno);
			goto out;
		}
		rc = gossip_keyring_install(kr, key);
		sodium_memzero(key, sizeof(key));
		if (rc == AS_EEXIST) {
			snprintf(err, errlen, "keyring %s:%d: duplicate key", path, lineno);
			goto out;
		}
		if (rc != AS_OK) {
			snprintf(err, errlen, "keyring %s:%d: more than %d keys", path, lineno,
				 GOSSIP_KEYS_MAX);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = AS_ELIB;
		snprintf(err, errlen, "keyring %s: read error", path);
	}
out:
	sodium_memzero(line, sizeof(line));
	return rc;
}

int gossip_keyring_load(const char *path, struct gossip_keyring **out,
			char *err, size_t errlen)
{
	struct gossip_keyring *kr = NULL;
	FILE *f = NULL;
	int rc;

	*out = NULL;
	rc = open_private(path, &f, err, errlen);
	if (rc)
		return rc;
	kr = gossip_keyring_new();
	if (!kr) {
		rc = AS_ENOMEM;
		snprintf(err, errlen, "keyring %s: out of memory", path);
		goto cleanup;
	}
	rc = read_keys(f, path, kr, err, errlen);
	if (rc)
		goto cleanup;
	if (kr->n == 0) {
		rc = AS_ECONFIG;
		snprintf(err, errlen, "keyring %s: no keys", path);
		goto cleanup;
	}
	*out = kr;
	kr = NULL;
	rc = AS_OK;
cleanup:
	gossip_keyring_free(kr);
	fclose(f);
	return rc;
}

int gossip_keyring_save(const struct gossip_keyring *kr, const char *path)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	FILE *f = NULL;
	int fd = -1, rc = AS_OK;

	if (!tmp)
		return AS_ENOMEM;
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		goto cleanup;
	}
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		goto cleanup;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		goto cleanup;
	}
	fd = -1;
	fprintf(f, "# anysteer gossip keyring: primary first\n");
	for (size_t i = 0; i < kr->n; i++) {
		char b64[GOSSIP_KEY_B64_LEN];
		gossip_key_format(kr->keys[i], b64);
		fprintf(f, "%s\n", b64);
		sodium_memzero(b64, sizeof(b64));
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = -errno;
		goto cleanup;
	}
	if (fclose(f) != 0) {
		f = NULL;
		rc = -errno;
		goto cleanup;
	}
	f = NULL;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto cleanup;
	}
	free(tmp);
	return AS_OK;
cleanup:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

/* Header and label, as additional data. */
static size_t make_ad(uint8_t *ad, const uint8_t *hdr, const char *label)
{
	size_t n = strlen(label);
	memcpy(ad, hdr, GOSSIP_HDR_LEN);
	memcpy(ad + GOSSIP_HDR_LEN, label, n);
	return GOSSIP_HDR_LEN + n;
}

/* Packets (GOSSIP_PROTO_VERSION) and stream headers (GOSSIP_STREAM_VERSION)
 * are sealed alike; the version byte is in the additional data, so one can
 * never pass for the other. A packet carries the first nlen =
 * GOSSIP_PKT_NONCE_LEN bytes of the nonce (the rest are zero), a stream
 * header all 24 (its format predates the short nonce). */
static int seal(struct gossip_keyring *kr, const char *label, uint8_t version, size_t nlen,
		const uint8_t *plain, size_t plain_len, uint8_t *out, size_t outlen)
{
	uint8_t ad[GOSSIP_HDR_LEN + GOSSIP_LABEL_MAX + 1], nonce[GOSSIP_NONCE_LEN];
	unsigned long long clen = 0;
	size_t adlen;

	if (strlen(label) > GOSSIP_LABEL_MAX)
		return AS_EINVAL;
	if (!kr || kr->n == 0) {
		if (outlen < GOSSIP_HDR_LEN + plain_len)
			return AS_ESPACE;
		memmove(out + GOSSIP_HDR_LEN, plain, plain_len);
		out[0] = version;
		out[1] = 0;
		return (int)(GOSSIP_HDR_LEN + plain_len);
	}
	if (outlen < GOSSIP_HDR_LEN + nlen + GOSSIP_TAG_LEN + plain_len)
		return AS_ESPACE;
	out[0] = version;
	out[1] = GOSSIP_FLAG_ENCRYPTED;
	adlen = make_ad(ad, out, label);
	nonce_next(kr, nonce);
	memcpy(out + GOSSIP_HDR_LEN, nonce, nlen);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(
		    out + GOSSIP_HDR_LEN + nlen, &clen, plain, plain_len,
		    ad, adlen, NULL, nonce, kr->keys[0]) != 0)
		return AS_ECRYPTO;
	return (int)(GOSSIP_HDR_LEN + nlen + clen);
}

/* The checks on the two header bytes: AS_OK for an encrypted packet, 1 for
 * an accepted plaintext one, else a drop. */
static int check_hdr(const struct gossip_keyring *kr, bool allow_plaintext,
		     uint8_t version, const uint8_t *pkt, size_t len, enum gossip_drop *why)
{
	if (len < GOSSIP_HDR_LEN) {
		*why = GOSSIP_DROP_SHORT;
		return AS_ETRUNC;
	}
	if (pkt[0] != version) {
		*why = GOSSIP_DROP_VERSION;
		return AS_EVERSION;
	}
	if (pkt[1] & ~GOSSIP_FLAG_ENCRYPTED) {
		*why = GOSSIP_DROP_FLAGS;
		return AS_EMALFORMED;
	}
	if (!(pkt[1] & GOSSIP_FLAG_ENCRYPTED)) {
		if (!allow_plaintext || (kr && kr->n)) {
			*why = GOSSIP_DROP_PLAINTEXT;
			return AS_EAUTH;
		}
		return 1;
	}
	if (!kr || kr->n == 0) {
		*why = GOSSIP_DROP_ENCRYPTED;
		return AS_EAUTH;
	}
	return AS_OK;
}

static int open_v(const struct gossip_keyring *kr, bool allow_plaintext,
		  const char *label, uint8_t version, size_t nlen, const uint8_t *pkt, size_t len,
		  uint8_t *plain, size_t plainlen, enum gossip_drop *why)
{
	uint8_t ad[GOSSIP_HDR_LEN + GOSSIP_LABEL_MAX + 1], nonce[GOSSIP_NONCE_LEN] = { 0 };
	size_t adlen, over = GOSSIP_HDR_LEN + nlen + GOSSIP_TAG_LEN;
	int rc = check_hdr(kr, allow_plaintext, version, pkt, len, why);

	if (rc < 0)
		return rc;
	if (rc == 1) {
		if (plainlen < len - GOSSIP_HDR_LEN) {
			*why = GOSSIP_DROP_TOO_BIG;
			return AS_ESPACE;
		}
		memcpy(plain, pkt + GOSSIP_HDR_LEN, len - GOSSIP_HDR_LEN);
		return (int)(len - GOSSIP_HDR_LEN);
	}
	if (len < over) {
		*why = GOSSIP_DROP_SHORT;
		return AS_ETRUNC;
	}
	if (plainlen < len - over || strlen(label) > GOSSIP_LABEL_MAX) {
		*why = GOSSIP_DROP_TOO_BIG;
		return AS_ESPACE;
	}
	adlen = make_ad(ad, pkt, label);
	memcpy(nonce, pkt + GOSSIP_HDR_LEN, nlen);
	for (size_t i = 0; i < kr->n; i++) {
		unsigned long long mlen = 0;
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(
			    plain, &mlen, NULL, pkt + GOSSIP_HDR_LEN + nlen,
			    len - GOSSIP_HDR_LEN - nlen, ad, adlen, nonce, kr->keys[i]) == 0)
			return (int)mlen;
	}
	*why = GOSSIP_DROP_AUTH;
	return AS_EAUTH;
}

int gossip_seal(struct gossip_keyring *kr, const char *label,
		const uint8_t *plain, size_t plain_len, uint8_t *out, size_t outlen)
{
	return seal(kr, label, GOSSIP_PROTO_VERSION, GOSSIP_PKT_NONCE_LEN, plain, plain_len, out, outlen);
}

int gossip_open(const struct gossip_keyring *kr, bool allow_plaintext,
		const char *label, const uint8_t *pkt, size_t len,
		uint8_t *plain, size_t plainlen, enum gossip_drop *why)
{
	return open_v(kr, allow_plaintext, label, GOSSIP_PROTO_VERSION, GOSSIP_PKT_NONCE_LEN,
		      pkt, len,
		      plain, plainlen, why);
}

/* ---- stream frame headers ---------------------------------------------- */

int gossip_stream_hdr_seal(struct gossip_keyring *kr, const char *label,
			   uint32_t body_len, uint8_t *out, size_t outlen)
{
	uint8_t be[4] = { (uint8_t)(body_len >> 24), (uint8_t)(body_len >> 16),
			  (uint8_t)(body_len >> 8), (uint8_t)body_len };
	return seal(kr, label, GOSSIP_STREAM_VERSION, GOSSIP_NONCE_LEN, be, sizeof(be), out, outlen);
}

int gossip_stream_hdr_len(const struct gossip_keyring *kr, bool allow_plaintext,
			  const uint8_t hdr[2], enum gossip_drop *why)
{
	int rc = check_hdr(kr, allow_plaintext, GOSSIP_STREAM_VERSION, hdr,
			   GOSSIP_HDR_LEN, why);
	if (rc < 0)
		return rc;
	return rc == 1 ? GOSSIP_STREAM_HDR_PLAIN : GOSSIP_STREAM_HDR_MAX;
}

int gossip_stream_hdr_open(const struct gossip_keyring *kr, bool allow_plaintext,
			   const char *label, const uint8_t *hdr, size_t len,
			   uint32_t *body_len, enum gossip_drop *why)
{
	uint8_t be[4];
	int n;

	if (len > GOSSIP_STREAM_HDR_MAX) {
		*why = GOSSIP_DROP_MALFORMED;
		return AS_EMALFORMED;
	}
	n = open_v(kr, allow_plaintext, label, GOSSIP_STREAM_VERSION, GOSSIP_NONCE_LEN, hdr, len,
		   be, sizeof(be), why);
	if (n < 0)
		return n;
	if (n != 4) {
		*why = GOSSIP_DROP_MALFORMED;
		return AS_EMALFORMED;
	}
	*body_len = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 | (uint32_t)be[2] << 8 | be[3];
	return AS_OK;
}
