"""netlab: declarative network labs on real namespaces, veth pairs, bridges, routes and NAT.

Imports nothing of the rest of the project, so it can be used (and tested) on its own.
"""
