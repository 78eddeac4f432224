"""One station for the merged commune: wired, FM, Icecast and RTP outputs behind one interface, zones, the report."""
