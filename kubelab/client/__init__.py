"""kubelab.client: the gRPC client library every cluster component uses.

from kubelab.client import Client, Informer, WorkQueue, LeaderElector, PODS
"""

from kubelab.client.client import Client, Credentials, ObjectList, Watch, WatchEvent
from kubelab.client.events import EventRecorder
from kubelab.client.informer import Informer
from kubelab.client.leaderelection import LeaderElectionConfig, LeaderElector
from kubelab.client.resources import (
    CONFIGMAPS,
    EVENTS,
    GVR,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    SECRETS,
    SERVICEACCOUNTS,
)
from kubelab.client.workqueue import WorkQueue

__all__ = [
    "CONFIGMAPS",
    "EVENTS",
    "GVR",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PODS",
    "SECRETS",
    "SERVICEACCOUNTS",
    "Client",
    "Credentials",
    "EventRecorder",
    "Informer",
    "LeaderElectionConfig",
    "LeaderElector",
    "ObjectList",
    "Watch",
    "WatchEvent",
    "WorkQueue",
]
