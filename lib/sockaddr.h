/*
 * lib/sockaddr.h - socket addresses: parse, print, compare, and the small
 * accessors every module wrote for itself (length, port, wildcard).
 *
 * Design: struct sockaddr_storage is the one address type between
 * modules; it holds either family and is what the kernel, libuv and the
 * config use. The helpers accept AF_INET and AF_INET6 and give a
 * defined, harmless answer for any other family (length 0, port 0, not
 * equal, not a wildcard), so a zeroed or AF_UNIX address fails loudly at
 * bind() instead of being read as IPv4.
 *
 * Two notions of "same": as_sockaddr_equal() is the socket (family,
 * address, port), so 192.0.2.1 and ::ffff:192.0.2.1 differ, as they do
 * to the kernel; as_sockaddr_same_host() is the host behind it, the
 * 16-byte form in which IPv4 is IPv4-mapped (as_sockaddr_key()), which
 * is also how addresses travel in gossip and in endpoint records.
 *
 * lib/as.h includes this header: nearly every module parses or prints
 * an address.
 */
#ifndef ANYSTEER_LIB_SOCKADDR_H
#define ANYSTEER_LIB_SOCKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for any string as_format_sockaddr() writes. */
#define AS_SOCKADDR_STRLEN 64

/* Parses "[v6]:port", "v4:port", "v6" or "v4" (with default_port) into a
 * sockaddr_storage. Returns AS_OK or AS_EPARSE. */
int as_parse_sockaddr(const char *s, uint16_t default_port,
		      struct sockaddr_storage *out);
/* Formats an address as "[v6]:port" or "v4:port". Returns buf. */
char *as_format_sockaddr(const struct sockaddr_storage *ss, char *buf,
			 size_t len);

/* true for AF_INET and AF_INET6. */
bool as_sockaddr_valid(const struct sockaddr_storage *ss);
/* The length to pass to bind(), connect(), sendto(); 0 for other families. */
socklen_t as_sockaddr_len(const struct sockaddr_storage *ss);
/* The port in host order; 0 for other families. */
uint16_t as_sockaddr_port(const struct sockaddr_storage *ss);
/* Sets the port (host order); does nothing for other families. */
void as_sockaddr_set_port(struct sockaddr_storage *ss, uint16_t port);
/* The unspecified address (0.0.0.0 or ::), any port. */
bool as_sockaddr_is_any(const struct sockaddr_storage *ss);
/* Same family, address and port. The IPv6 scope id is ignored: it never
 * travels (gossip records, config), so a local copy that has one must
 * still equal the copy that came back over the wire. */
bool as_sockaddr_equal(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b);

/* The address as 16 bytes, IPv4 as IPv4-mapped (::ffff:a.b.c.d). false,
 * key zeroed, for other families. */
bool as_sockaddr_key(const struct sockaddr_storage *ss, uint8_t key[16]);
/* Equal keys: the same host in either family, ports ignored. */
bool as_sockaddr_same_host(const struct sockaddr_storage *a,
			   const struct sockaddr_storage *b);
/* A 16-byte address in ::ffff:0:0/96. */
bool as_addr16_is_v4mapped(const uint8_t a[16]);
/* Formats a 16-byte address, an IPv4-mapped one as dotted IPv4, no port
 * (len >= 46, INET6_ADDRSTRLEN). Returns buf. */
char *as_format_addr16(const uint8_t a[16], char *buf, size_t len);

#endif
