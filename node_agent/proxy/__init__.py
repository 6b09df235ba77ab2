"""proxy: renders Services and EndpointSlices into iptables rules, one iptables-restore per sync."""
