/* net/proxy - the PROXY protocol header a load balancer (HAProxy) sends
 * before the client's first byte, versions 1 (a text line) and 2 (binary),
 * as haproxy's doc/proxy-protocol.txt describes them; and the check of the
 * connecting address against a listener's proxy_from networks.
 *
 * No I/O: the listener (net/listener.c) peeks at the socket and calls
 * net_proxy_parse() on what it has so far.  The parser keeps no state, so
 * feeding it a longer prefix of the same bytes is how it resumes.  Error
 * text is static.
 */
#ifndef PETREL_NET_PROXY_H
#define PETREL_NET_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct config_network;

/* A v1 line is at most 107 octets with its CRLF (spec 2.1); the fixed part
 * of a v2 header is 16 octets, then up to 216 of addresses (AF_UNIX) before
 * any TLV.  So the parser never needs more than NET_PROXY_PEEK_MAX octets
 * to decide; a v2 header may be longer (TLVs), which the caller skips. */
#define NET_PROXY_V1_MAX 107
#define NET_PROXY_V2_FIXED 16
#define NET_PROXY_PEEK_MAX 232

struct net_proxy_header {
	int version;                    /* 1 or 2 */
	/* false for v1 UNKNOWN and v2 LOCAL (a health check of the balancer
	 * itself): the socket's own peer address stands (spec 2.1, 2.2) */
	bool has_source;
	struct sockaddr_storage source; /* AF_INET or AF_INET6, with the port */
	socklen_t source_len;
	size_t length;                  /* octets of the whole header, TLVs included */
};

/* net_proxy_parse - the header at the start of DATA (SIZE octets so far):
 * 1 = complete, *HEADER_R filled (HEADER_R->length may exceed SIZE for a
 * v2 header with TLVs: the rest is to be read and dropped); 0 = every octet
 * so far belongs to a header not yet complete; -1 = not a valid header
 * (*ERROR_R says why).  A v2 header must be PROXY over TCP (IPv4 or IPv6)
 * or LOCAL; UDP and unix-socket addresses are refused. */
int net_proxy_parse(const unsigned char *data, size_t size,
		    struct net_proxy_header *header_r, const char **error_r);

/* net_address_in_networks - true if SA (IPv4 or IPv6) lies in one of the
 * COUNT networks (config.h: IPv4 ones as v4-mapped IPv6) */
bool net_address_in_networks(const struct sockaddr *sa, const struct config_network *networks,
			     size_t count);

#endif
