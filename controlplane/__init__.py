"""Control-plane processes: kvstore, apiserver, scheduler, controller-manager (one subpackage each).

Never imports `node_agent`: the two meet only through the API.
"""
