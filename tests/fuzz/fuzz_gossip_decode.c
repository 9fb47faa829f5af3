/*
 * tests/fuzz/fuzz_gossip_decode.c - libFuzzer harness for gossip input.
 *
 * One input is one received packet. It goes through the envelope decoder
 * alone, then through a whole plaintext core as a UDP datagram and as a
 * stream message, so the bounded reader and every apply path see it.
 */
#include <stdint.h>
#include <string.h>

#include "gossip/gossip.h"
#include "lib/as.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gossip_packet pkt;
	enum gossip_drop why;
	struct gossip_config cfg;
	struct gossip_core *core = NULL;
	size_t n;

	memset(&pkt, 0, sizeof(pkt));
	gossip_envelope_decode(data, size, &pkt, &why);
	gossip_packet_reset(&pkt);

	gossip_config_defaults(&cfg);
	cfg.name = "fuzz";
	cfg.label = "prod";
	cfg.plaintext = true;
	if (as_parse_sockaddr("[fd00::1]:7946", 7946, &cfg.addr) != AS_OK)
		return 0;
	if (gossip_core_new(&cfg, NULL, 0, &core) != AS_OK)
		return 0;
	gossip_core_recv(core, 1, GOSSIP_TX_UDP, &cfg.addr, data, size);
	gossip_core_recv(core, 2, GOSSIP_TX_STREAM, &cfg.addr, data, size);
	gossip_core_tick(core, 5000);
	gossip_core_outbox(core, &n);
	gossip_core_free(core);
	return 0;
}
