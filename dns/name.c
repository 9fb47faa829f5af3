/*
 * dns/name.c - what a name in the zone may be.
 *
 * Design. The zone answers for host names, so its names follow the host
 * name rules of RFC 1035 section 2.3.1 as relaxed by RFC 1123 section
 * 2.1: labels of letters, digits and '-', not beginning or ending with
 * '-' (a leading digit is fine), 1 to 63 characters per label and at
 * most 253 characters in all (255 octets on the wire). DNS compares names
 * without regard to case (RFC 4343); this daemon keeps them in lower
 * case, so a reader of names (the configuration, the Kubernetes
 * annotation) lowers what it reads and the catalog, gossip and the view
 * carry the lower-case form only. A name that differs only in case is
 * therefore the same name, never a second service.
 *
 * A service name is one such label under the zone, or the wildcard label
 * `*` alone (RFC 4592: the service `*` answers every name of the zone
 * that has no name of its own, see dns/view.c), with two more
 * conditions that only the zone decides: its SRV owner
 * `_<name>._tcp.<zone>` must fit in 255 octets, and `<name>.<zone>` must
 * not be one of the zone's own nameserver names (by default `ns`, as the
 * view answers `ns.<zone>` with the nameserver addresses).
 *
 * These functions are the one place that says so: the configuration
 * loader, the view builder, the cluster's filter for gossiped names and
 * the Kubernetes mapping all call them, so a name is accepted by one
 * exactly when it is accepted by the others. They are pure and
 * thread-safe and return why a name is bad (a constant string), or NULL.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"

/* Octets of the SRV owner _<label>._tcp. besides the label's own
 * characters: the length octet and '_' of the first label, then "\4_tcp"
 * (the protocols, tcp and udp, have three letters). */
#define SRV_PREFIX_OCTETS 7

static bool ldh(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/* Checks the n characters at s as one label. */
static const char *label_n_problem(const char *s, size_t n)
{
	if (n == 0)
		return "empty label";
	if (n > DNS_LABEL_MAX)
		return "label longer than 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!ldh(s[i]))
			return "invalid character (use letters, digits and "
			       "'-')";
	if (s[0] == '-' || s[n - 1] == '-')
		return "may not begin or end with '-'";
	return NULL;
}

const char *dns_name_label_problem(const char *label)
{
	if (!label)
		return "empty label";
	return label_n_problem(label, strlen(label));
}

const char *dns_name_problem(const char *name)
{
	size_t n, start = 0;
	const char *why;

	if (!name || !*name)
		return "empty name";
	if (strcmp(name, ".") == 0)
		return NULL;	/* the root */
	n = strlen(name);
	if (name[n - 1] == '.')
		n--;
	if (n > DNS_NAME_TEXT_MAX)
		return "longer than 253 characters";
	for (size_t i = 0; i <= n; i++) {
		if (i < n && name[i] != '.')
			continue;
		if ((why = label_n_problem(name + start, i - start)))
			return why;
		start = i + 1;
	}
	return NULL;
}

/* Length of name without its trailing dot. */
static size_t bare_len(const char *name)
{
	size_t n = strlen(name);

	return n && name[n - 1] == '.' ? n - 1 : n;
}

/* True when the nameserver name ns (presentation form; relative to the
 * zone without a trailing dot, as dns_view_spec takes it) is
 * <label>.<zone>. */
static bool names_label(const char *ns, const char *label, size_t ll,
			const char *zone, size_t zl)
{
	size_t nl = strlen(ns);

	if (nl == 0 || ns[nl - 1] != '.')	/* relative */
		return nl == ll && strncasecmp(ns, label, ll) == 0;
	nl--;
	if (zl == 0)				/* the root zone */
		return nl == ll && strncasecmp(ns, label, ll) == 0;
	return nl == ll + 1 + zl && strncasecmp(ns, label, ll) == 0 &&
	       ns[ll] == '.' && strncasecmp(ns + ll + 1, zone, zl) == 0;
}

bool dns_name_is_nameserver(const char *label, const char *zone,
			    const char *const *nameservers, size_t n_nameservers)
{
	static const char *const default_ns[] = { "ns" };
	size_t ll = strlen(label), zl;

	if (!zone)
		return false;
	zl = strcmp(zone, ".") == 0 ? 0 : bare_len(zone);
	if (!nameservers || !n_nameservers) {
		nameservers = default_ns;
		n_nameservers = 1;
	}
	for (size_t i = 0; i < n_nameservers; i++)
		if (nameservers[i] &&
		    names_label(nameservers[i], label, ll, zone, zl))
			return true;
	return false;
}

const char *dns_name_service_label_problem(const char *label)
{
	if (label && strcmp(label, "*") == 0)
		return NULL;
	return dns_name_label_problem(label);
}

const char *dns_name_service_problem(const char *label, const char *zone,
				     const char *const *nameservers,
				     size_t n_nameservers)
{
	const char *why;
	size_t ll, zl, zone_octets;

	if ((why = dns_name_service_label_problem(label)))
		return why;
	ll = strlen(label);
	for (size_t i = 0; i < ll; i++)
		if (isupper((unsigned char)label[i]))
			return "upper-case letter (service names are kept in "
			       "lower case)";
	if (!zone)
		return NULL;
	zl = strcmp(zone, ".") == 0 ? 0 : bare_len(zone);
	zone_octets = zl ? zl + 2 : 1;
	if (SRV_PREFIX_OCTETS + ll + zone_octets > DNS_NAME_MAX)
		return "too long for the zone (_<name>._tcp.<zone> must fit "
		       "in 255 octets)";
	if (dns_name_is_nameserver(label, zone, nameservers, n_nameservers))
		return "is the name of one of the zone's nameservers "
		       "(dns.nameservers)";
	return NULL;
}
