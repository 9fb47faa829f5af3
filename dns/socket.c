/*
 * dns/socket.c - the listeners' sockets: made with socket(2), configured
 * and bound before any worker thread exists, and the PKTINFO control
 * data both UDP back ends use to answer from the address that was asked.
 *
 * Design. The sockets are made here rather than by libuv (libuv 1.44
 * cannot set SO_REUSEPORT on UDP) and all of them are bound in
 * dns_server_new(), so a busy or foreign address is reported to the
 * caller instead of killing a thread. Worker 0 binds before it sets
 * SO_REUSEPORT, so an address held by any other socket, even another
 * server of ours, is busy rather than shared.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/server_int.h"

#define PORT0_ATTEMPTS 16

static int set_opt(int fd, int level, int name, const char *what,
		   const struct sockaddr_storage *ss, const char *proto)
{
	int one = 1;
	if (setsockopt(fd, level, name, &one, sizeof(one)) == 0)
		return AS_OK;
	int e = errno;
	char buf[AS_SOCKADDR_STRLEN];
	as_err("dns: cannot set %s on %s (%s): %s", what,
	       as_format_sockaddr(ss, buf, sizeof(buf)), proto, strerror(e));
	return -e;
}

/* A worker that is descheduled for a few milliseconds must not lose the
 * queries that arrive meanwhile: the default UDP receive buffer (about
 * 200 KiB) overflowed under dnsperf at 20k qps on a busy 2-core machine.
 * As root, SO_RCVBUFFORCE goes past net.core.rmem_max; otherwise the
 * kernel caps SO_RCVBUF there. Memory is only used while queued. */
#define UDP_RCVBUF (4 * 1024 * 1024)
static void grow_rcvbuf(int s)
{
	int size = UDP_RCVBUF;
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* Creates, configures and binds one socket; *fd = -1 on failure. When
 * quiet_busy, EADDRINUSE is returned without a log line (port 0 retry).
 * An exclusive socket is bound before SO_REUSEPORT is set, so its bind
 * fails if anything else holds the address, even another process of the
 * same user with SO_REUSEPORT (which the kernel would let share it, and
 * even hand out on a port 0 bind); the flag set afterwards lets our
 * other workers join it. */
static int open_socket(const struct sockaddr_storage *ss, bool udp,
		       bool exclusive, bool quiet_busy, int *fd)
{
	const char *proto = udp ? "udp" : "tcp";
	char buf[AS_SOCKADDR_STRLEN];
	int s, err;

	*fd = -1;
	s = socket(ss->ss_family,
		   (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
			   SOCK_CLOEXEC,
		   0);
	if (s < 0) {
		err = -errno;
		as_err("dns: cannot create socket for %s (%s): %s",
		       as_format_sockaddr(ss, buf, sizeof(buf)), proto,
		       strerror(-err));
		return err;
	}
	if (!exclusive && (err = set_opt(s, SOL_SOCKET, SO_REUSEPORT,
					 "SO_REUSEPORT", ss, proto)))
		goto fail;
	if (!udp && (err = set_opt(s, SOL_SOCKET, SO_REUSEADDR,
				   "SO_REUSEADDR", ss, proto)))
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    (err = set_opt(s, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", ss,
			   proto)))
		goto fail;
	if (udp && as_sockaddr_is_any(ss)) {
		if (ss->ss_family == AF_INET6)
			err = set_opt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO,
				      "IPV6_RECVPKTINFO", ss, proto);
		else
			err = set_opt(s, IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO",
				      ss, proto);
		if (err)
			goto fail;
	}
	if (udp)
		grow_rcvbuf(s);
	if (bind(s, (const struct sockaddr *)ss, as_sockaddr_len(ss)) < 0) {
		err = -errno;
		if (!(quiet_busy && err == -EADDRINUSE))
			as_err("dns: cannot bind %s (%s): %s",
			       as_format_sockaddr(ss, buf, sizeof(buf)), proto,
			       strerror(-err));
		goto fail;
	}
	if (exclusive && (err = set_opt(s, SOL_SOCKET, SO_REUSEPORT,
					"SO_REUSEPORT", ss, proto)))
		goto fail;
	*fd = s;
	return AS_OK;
fail:
	close(s);
	return err;
}

static void close_raw_fds(dns_server_t *srv, size_t a)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dns_listener *l = &srv->workers[i]->ls[a];
		if (l->udp_fd >= 0)
			close(l->udp_fd);
		if (l->tcp_fd >= 0)
			close(l->tcp_fd);
		l->udp_fd = l->tcp_fd = -1;
	}
}

/* Binds the UDP and TCP socket of address a for every worker. Worker 0's
 * sockets are exclusive (see open_socket). With port 0 the first socket
 * picks the port and all others follow it; if that port is taken for
 * TCP we start over with a new one. */
int dns_sock_bind_address(dns_server_t *srv, size_t a,
			  const struct sockaddr_storage *want)
{
	bool port0 = as_sockaddr_port(want) == 0;
	int err = AS_OK;

	for (int attempt = 0; attempt < (port0 ? PORT0_ATTEMPTS : 1);
	     attempt++) {
		struct sockaddr_storage ss = *want;
		bool retry = false;

		for (unsigned i = 0; i < srv->n_workers && !err; i++) {
			struct dns_listener *l = &srv->workers[i]->ls[a];
			bool first = i == 0;

			l->family = ss.ss_family;
			l->wildcard = as_sockaddr_is_any(&ss);
			err = open_socket(&ss, true, first, port0 && !first,
					  &l->udp_fd);
			if (!err && first && port0) {
				socklen_t len = sizeof(ss);
				if (getsockname(l->udp_fd,
						(struct sockaddr *)&ss,
						&len) < 0) {
					err = -errno;
					as_err("dns: getsockname: %s",
					       strerror(errno));
				}
			}
			if (!err)
				err = open_socket(&ss, false, first, port0,
						  &l->tcp_fd);
		}
		if (!err) {
			srv->addrs[a] = ss;
			return AS_OK;
		}
		retry = port0 && err == -EADDRINUSE;
		close_raw_fds(srv, a);
		if (!retry)
			return err;
		err = AS_OK;
	}
	char buf[AS_SOCKADDR_STRLEN];
	as_err("dns: cannot bind %s: no port free for both UDP and TCP",
	       as_format_sockaddr(want, buf, sizeof(buf)));
	return -EADDRINUSE;
}

/* ---- PKTINFO ---------------------------------------------------------- */

/* Makes out the reply's only control message. */
static void put_cmsg(uint8_t *out, int level, int type, const void *data,
		     size_t len, struct msghdr *sh)
{
	struct cmsghdr *o = (struct cmsghdr *)(void *)out;

	o->cmsg_level = level;
	o->cmsg_type = type;
	o->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(o), data, len);
	sh->msg_control = o;
	sh->msg_controllen = CMSG_SPACE(len);
}

/* Turns the query's destination address (an IP(V6)_PKTINFO cmsg c) into
 * the reply's control data in o, so a wildcard socket answers from the
 * address that was asked; false if c is not that cmsg. */
bool dns_sock_pktinfo_reply(const struct cmsghdr *c, int family,
			    uint8_t *out, struct msghdr *sh)
{
	if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
	    c->cmsg_type == IPV6_PKTINFO &&
	    c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
		struct in6_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		/* Pin the interface only where the address needs it;
		 * otherwise routing picks it (anycast). */
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
			pi.ipi6_ifindex = 0;
		put_cmsg(out, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi), sh);
		return true;
	}
	if (family == AF_INET && c->cmsg_level == IPPROTO_IP &&
	    c->cmsg_type == IP_PKTINFO &&
	    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
		struct in_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		/* Source = the address asked; let routing pick the
		 * interface (it may differ for anycast). */
		pi.ipi_spec_dst = pi.ipi_addr;
		pi.ipi_ifindex = 0;
		put_cmsg(out, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi), sh);
		return true;
	}
	return false;
}
