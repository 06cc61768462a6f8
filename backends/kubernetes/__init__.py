"""Kubernetes backends on the official `kubernetes` client: traffic (one module per strategy), metrics, logs,
readiness. `api` is how every one of them reaches the cluster."""

from backends.kubernetes.api import Kube, KubeOptions
from backends.kubernetes.logs import KubernetesLogs
from backends.kubernetes.metrics import KubernetesMetrics, quantity
from backends.kubernetes.traffic import KubernetesTraffic

__all__ = ["Kube", "KubeOptions", "KubernetesLogs", "KubernetesMetrics", "KubernetesTraffic", "quantity"]
