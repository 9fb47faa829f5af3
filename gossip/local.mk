# gossip/: see gossip/gossip.h. Rules are added as the module grows.
