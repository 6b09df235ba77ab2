"""Node agent: the kubelet and proxy roles of a worker, in one process or each alone.

Never imports `controlplane`: the two meet only through the API.
"""
