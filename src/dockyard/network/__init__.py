"""Bridges, veth pairs, IPAM, NAT, DNS."""
