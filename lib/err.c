/*
 * Error descriptions. Project codes live in a table indexed by distance
 * from AS_ERR_BASE; everything else is a negated errno and goes to
 * strerror_r, whose GNU variant returns a static or caller string.
 */
#include <string.h>

#include "lib/as.h"

static const struct {
	const char *name;
	const char *text;
} as_errs[] = {
	[1] = { "AS_ECONFIG", "invalid configuration" },
	[2] = { "AS_EPARSE", "parse error" },
	[3] = { "AS_EMALFORMED", "malformed input" },
	[4] = { "AS_ETRUNC", "input truncated" },
	[5] = { "AS_ESPACE", "not enough buffer space" },
	[6] = { "AS_ENOTFOUND", "not found" },
	[7] = { "AS_EAUTH", "authentication failed" },
	[8] = { "AS_EVERSION", "unsupported version" },
	[9] = { "AS_ESTATE", "operation not valid in this state" },
	[10] = { "AS_EPROTO", "protocol violation" },
	[11] = { "AS_ELIMIT", "limit reached" },
	[12] = { "AS_ECRYPTO", "cryptographic operation failed" },
	[13] = { "AS_ELIB", "library call failed" },
	[14] = { "AS_EREMOTE", "remote side reported an error" },
	[15] = { "AS_ESTALE", "stale or replayed data" },
};

static int own_index(int err)
{
	int i = -err - AS_ERR_BASE;
	if (i > 0 && (size_t)i < AS_ARRAY_SIZE(as_errs) && as_errs[i].name)
		return i;
	return 0;
}

const char *as_strerror(int err)
{
	static __thread char buf[64];

	if (err == AS_OK)
		return "success";
	int i = own_index(err);
	if (i)
		return as_errs[i].text;
	if (err < 0 && err > -AS_ERR_BASE)
		return strerror_r(-err, buf, sizeof(buf));
	return "unknown error";
}

const char *as_errname(int err)
{
	if (err == AS_OK)
		return "OK";
	int i = own_index(err);
	if (i)
		return as_errs[i].name;
	if (err < 0 && err > -AS_ERR_BASE) {
		const char *n = strerrorname_np(-err);
		if (n)
			return n;
	}
	return "EUNKNOWN";
}
