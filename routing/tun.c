/*
 * routing/tun.c - the agent-owned TUN device, driven over rtnetlink.
 *
 * Design. The device is created with TUNSETIFF and explicitly made
 * non-persistent, so it lives exactly as long as our descriptor: when the
 * process dies the kernel unregisters it, the addresses vanish, and BIRD's
 * direct protocol withdraws the route without any help from us. A name
 * that already exists is refused rather than attached to, because
 * attaching to someone else's persistent device would silently lose that
 * guarantee.
 *
 * The carrier is switched with TUNSETCARRIER and is off before any
 * address is added, so nothing is announced before the health gate says
 * so. Links and
 * addresses go through one libmnl socket with synchronous request/ACK
 * transactions (the kernel answers at once; no loop integration is
 * needed). Addresses are /128 with IFA_F_NODAD, so they are usable at
 * once instead of tentative for ~2 s, and IFA_F_NOPREFIXROUTE, so no
 * prefix route appears next to BIRD's. IPv6 link-local generation is
 * turned off on the device: nothing should talk on it.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "lib/as.h"
#include "routing/routing.h"

#ifndef IN6_ADDR_GEN_MODE_NONE
#define IN6_ADDR_GEN_MODE_NONE 1
#endif

#define NL_BUF 32768

/* IFLA_INET6_FLAGS carries the kernel's inet6_dev flags; IF_READY is in
 * include/net/if_inet6.h, not in the UAPI headers. */
#ifndef IF_READY
#define IF_READY 0x80000000u
#endif

struct route_tun {
	int fd;
	struct mnl_socket *nl;
	unsigned portid;
	unsigned seq;
	unsigned ifindex;
	char name[IFNAMSIZ];
	char buf[NL_BUF];
};

/* Sends the message in t->buf and runs cb over the answers until the ACK
 * (or NLMSG_DONE for dumps). Returns AS_OK or a negated errno. */
static int nl_talk(route_tun_t *t, struct nlmsghdr *nlh, mnl_cb_t cb,
		   void *data)
{
	unsigned seq = nlh->nlmsg_seq;
	int ret;

	if (mnl_socket_sendto(t->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ret = (int)mnl_socket_recvfrom(t->nl, t->buf, sizeof(t->buf));
		if (ret < 0)
			return -errno;
		ret = mnl_cb_run(t->buf, (size_t)ret, seq, t->portid, cb, data);
		if (ret < 0)
			return errno ? -errno : AS_EPROTO;
		if (ret == MNL_CB_STOP)
			return AS_OK;
	}
}

static struct nlmsghdr *nl_start(route_tun_t *t, uint16_t type,
				 uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(t->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++t->seq;
	return nlh;
}

static bool name_ok(const char *name)
{
	size_t len;
	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len >= IFNAMSIZ || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		/* '%' would make the kernel pick a name (anysteer%d) */
		if (c <= ' ' || c == '/' || c == ':' || c == '%' || c >= 0x7f)
			return false;
	}
	return true;
}

static int set_link(route_tun_t *t, bool up)
{
	struct nlmsghdr *nlh = nl_start(t, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)t->ifindex;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	return nl_talk(t, nlh, NULL, NULL);
}

static int set_addr_gen_none(route_tun_t *t)
{
	struct nlmsghdr *nlh = nl_start(t, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)t->ifindex;
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	struct nlattr *in6 = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, in6);
	mnl_attr_nest_end(nlh, spec);
	return nl_talk(t, nlh, NULL, NULL);
}

static int link_state(route_tun_t *t, struct route_link_state *out);

/* The kernel applies carrier changes asynchronously (linkwatch, rate
 * limited to one event per second): operstate follows only when the change
 * has gone through, and that is also when listeners such as BIRD hear of
 * it. Waits until IPv6 calls the device ready, or until the carrier-off
 * is through. */
enum wait_for { WAIT_IPV6_READY, WAIT_CARRIER_DOWN };

static int wait_link(route_tun_t *t, enum wait_for what)
{
	struct route_link_state ls;
	uint64_t deadline = as_now_ms() + 3000;
	int rc;

	for (;;) {
		rc = link_state(t, &ls);
		if (rc)
			return rc;
		if (what == WAIT_IPV6_READY ? ls.ipv6_ready
		    : (ls.operstate == IF_OPER_DOWN ||
		       ls.operstate == IF_OPER_LOWERLAYERDOWN))
			return AS_OK;
		if (as_now_ms() > deadline)
			return AS_ETIMEDOUT;
		usleep(1000);
	}
}

int route_tun_new(const char *name, route_tun_t **out)
{
	route_tun_t *t = NULL;
	struct ifreq ifr;
	int rc, off = 0;

	if (!name_ok(name))
		return AS_EINVAL;
	if (if_nametoindex(name) != 0)
		return AS_EEXIST;
	t = calloc(1, sizeof(*t));
	if (!t)
		return AS_ENOMEM;
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0) {
		rc = -errno;
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		rc = errno == EBUSY ? AS_EEXIST : -errno;
		goto fail;
	}
	/* Lost a race with someone creating a persistent device of the same
	 * name: make sure ours dies with us anyway. */
	if (ioctl(t->fd, TUNSETPERSIST, 0) < 0) {
		rc = -errno;
		goto fail;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = '\0';
	t->ifindex = if_nametoindex(t->name);
	if (!t->ifindex) {
		rc = -errno;
		goto fail;
	}
	t->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!t->nl) {
		rc = -errno;
		goto fail;
	}
	if (mnl_socket_bind(t->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto fail;
	}
	t->portid = mnl_socket_get_portid(t->nl);
	t->seq = (unsigned)time(NULL);
	rc = set_addr_gen_none(t);
	if (rc)
		as_debug("routing: %s: cannot turn off link-local: %s", t->name,
			 as_strerror(rc));
	/* Up with the carrier on until IPv6 marks the device ready (IF_READY,
	 * which then stays set; it can lag behind when a carrier event is
	 * rate-limited). Only on a ready device do addresses added later get
	 * local routes at once. On a device that was never ready they would
	 * receive nothing until the first carrier-on, so the health gate's
	 * self-query could never succeed. Then carrier off, and wait until
	 * that has gone through too, so that BIRD never sees an address on a
	 * device it believes to have a carrier. */
	rc = set_link(t, true);
	if (rc)
		goto fail;
	rc = wait_link(t, WAIT_IPV6_READY);
	if (rc)
		goto fail;
	if (ioctl(t->fd, TUNSETCARRIER, &off) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = wait_link(t, WAIT_CARRIER_DOWN);
	if (rc)
		goto fail;
	*out = t;
	return AS_OK;
fail:
	route_tun_free(t);
	return rc;
}

void route_tun_free(route_tun_t *t)
{
	if (!t)
		return;
	if (t->nl)
		mnl_socket_close(t->nl);
	if (t->fd >= 0)
		close(t->fd); /* the kernel removes the device */
	free(t);
}

const char *route_tun_name(const route_tun_t *t)
{
	return t->name;
}

unsigned route_tun_ifindex(const route_tun_t *t)
{
	return t->ifindex;
}

int route_tun_fd(const route_tun_t *t)
{
	return t->fd;
}

static int addr_msg(route_tun_t *t, uint16_t type, uint16_t flags,
		    const struct in6_addr *addr)
{
	struct nlmsghdr *nlh = nl_start(t, type, NLM_F_ACK | flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = 128;
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = t->ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(*addr), addr);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(*addr), addr);
	if (type == RTM_NEWADDR)
		mnl_attr_put_u32(nlh, IFA_FLAGS,
				 IFA_F_NODAD | IFA_F_NOPREFIXROUTE);
	return nl_talk(t, nlh, NULL, NULL);
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	bool *local = data;
	const struct rtmsg *rtm;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	rtm = mnl_nlmsg_get_payload(nlh);
	*local = rtm->rtm_type == RTN_LOCAL;
	return MNL_CB_OK;
}

/* Whether a lookup of addr ends in a local route (`ip route get`). */
static int is_local(route_tun_t *t, const struct in6_addr *addr, bool *local)
{
	struct nlmsghdr *nlh = nl_start(t, RTM_GETROUTE, NLM_F_ACK);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	int rc;

	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = 128;
	mnl_attr_put(nlh, RTA_DST, sizeof(*addr), addr);
	*local = false;
	rc = nl_talk(t, nlh, route_cb, local);
	return rc == -ENETUNREACH || rc == -EHOSTUNREACH ? AS_OK : rc;
}

int route_tun_add_address(route_tun_t *t, const struct in6_addr *addr)
{
	uint64_t deadline;
	bool local;
	int rc;

	rc = addr_msg(t, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, addr);
	if (rc)
		return rc;
	/* The kernel acknowledges the address before it installs the local
	 * route (that happens in its DAD work, even with NODAD): until then
	 * a query to the address fails with ENETUNREACH. Wait for it. */
	deadline = as_now_ms() + 2000;
	for (;;) {
		rc = is_local(t, addr, &local);
		if (rc || local)
			return rc;
		if (as_now_ms() > deadline)
			return AS_ETIMEDOUT;
		usleep(200);
	}
}

int route_tun_del_address(route_tun_t *t, const struct in6_addr *addr)
{
	int rc = addr_msg(t, RTM_DELADDR, 0, addr);
	return rc == -EADDRNOTAVAIL ? AS_ENOENT : rc;
}

int route_tun_set_carrier(route_tun_t *t, bool on)
{
	int v = on ? 1 : 0;
	if (ioctl(t->fd, TUNSETCARRIER, &v) < 0)
		return -errno;
	return AS_OK;
}

struct link_cb_data {
	unsigned ifindex;
	struct route_link_state *out;
	bool found;
};

static int inet6_attr_cb(const struct nlattr *a, void *data)
{
	struct route_link_state *s = data;
	if (mnl_attr_get_type(a) == IFLA_INET6_FLAGS &&
	    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		s->ipv6_ready = (mnl_attr_get_u32(a) & IF_READY) != 0;
	return MNL_CB_OK;
}

static int af_spec_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == AF_INET6)
		mnl_attr_parse_nested(a, inet6_attr_cb, data);
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct route_link_state *s = data;
	switch (mnl_attr_get_type(a)) {
	case IFLA_AF_SPEC:
		mnl_attr_parse_nested(a, af_spec_cb, s);
		break;
	case IFLA_CARRIER:
		if (mnl_attr_validate(a, MNL_TYPE_U8) == 0)
			s->carrier = mnl_attr_get_u8(a) != 0;
		break;
	case IFLA_OPERSTATE:
		if (mnl_attr_validate(a, MNL_TYPE_U8) == 0)
			s->operstate = mnl_attr_get_u8(a);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_cb_data *d = data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	if ((unsigned)ifi->ifi_index != d->ifindex)
		return MNL_CB_OK;
	memset(d->out, 0, sizeof(*d->out));
	d->out->ifindex = d->ifindex;
	d->out->up = (ifi->ifi_flags & IFF_UP) != 0;
	d->out->lower_up = (ifi->ifi_flags & IFF_LOWER_UP) != 0;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, d->out);
	d->found = true;
	return MNL_CB_OK;
}

int route_tun_link_state(route_tun_t *t, struct route_link_state *out)
{
	return link_state(t, out);
}

static int link_state(route_tun_t *t, struct route_link_state *out)
{
	struct nlmsghdr *nlh = nl_start(t, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct link_cb_data d = { t->ifindex, out, false };
	int rc;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)t->ifindex;
	/* A plain GET answers with one message and no ACK: ask for one. */
	nlh->nlmsg_flags |= NLM_F_ACK;
	rc = nl_talk(t, nlh, link_cb, &d);
	if (rc)
		return rc;
	return d.found ? AS_OK : AS_ENOENT;
}

struct addr_cb_data {
	unsigned ifindex;
	const struct in6_addr *addr;
	bool found;
};

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_cb_data *d = data;
	const struct ifaddrmsg *ifa;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWADDR ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return MNL_CB_OK;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET6 || ifa->ifa_index != d->ifindex ||
	    ifa->ifa_prefixlen != 128)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		uint16_t type = mnl_attr_get_type(a);
		if ((type == IFA_ADDRESS || type == IFA_LOCAL) &&
		    mnl_attr_get_payload_len(a) == sizeof(struct in6_addr) &&
		    memcmp(mnl_attr_get_payload(a), d->addr,
			   sizeof(struct in6_addr)) == 0)
			d->found = true;
	}
	return MNL_CB_OK;
}

int route_tun_has_address(route_tun_t *t, const struct in6_addr *addr,
			  bool *present)
{
	struct nlmsghdr *nlh = nl_start(t, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_cb_data d = { t->ifindex, addr, false };
	int rc;

	ifa->ifa_family = AF_INET6;
	rc = nl_talk(t, nlh, addr_cb, &d);
	if (rc)
		return rc;
	*present = d.found;
	return AS_OK;
}
