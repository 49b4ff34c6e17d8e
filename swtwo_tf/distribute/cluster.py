"""The cluster's addresses: free and busy ports, each worker's ``TF_CONFIG``, and the same job
as a Kubernetes Indexed Job (chapter 11)."""

from __future__ import annotations

import json
import os
import socket

#: Environment variables a Kubernetes pod gets (see :func:`kubernetes_manifest`).
HOSTS_ENV, INDEX_ENV = "SWTWO_WORKER_HOSTS", "JOB_COMPLETION_INDEX"


class PortBusy(ValueError):
    """A port the job was told to use is taken by another program."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free on ``host`` now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_ports(ports: list[int], host: str = "127.0.0.1") -> None:
    """Raise :class:`PortBusy` naming the first of ``ports`` another program holds."""
    for port in ports:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"port must be an int in 1-65535, got {port!r}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # as servers do: a port left in TIME_WAIT by a finished job is free; one that a
            # program listens on is not
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise PortBusy(f"port {port} on {host} is busy ({exc.strerror}): pick another "
                               "--port, or leave it out to use free ports") from None


def tf_config(hosts: list[str], index: int) -> dict:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers at ``hosts``
    (``"host:port"`` each): the whole cluster, and which task this process is."""
    if not hosts:
        raise ValueError("a cluster needs at least one worker address")
    for host in hosts:
        name, _, port = str(host).rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"a worker address must look like 'host:port', got {host!r}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(hosts):
        raise ValueError(f"worker index must be in 0..{len(hosts) - 1}, got {index!r}")
    return {"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}}


def tf_config_from_env(environ=None) -> dict | None:
    """``TF_CONFIG`` as set, or built from ``$SWTWO_WORKER_HOSTS`` (comma-separated
    ``host:port``) and ``$JOB_COMPLETION_INDEX`` (what a Kubernetes Indexed Job gives each
    pod); None when neither is set."""
    environ = os.environ if environ is None else environ
    if environ.get("TF_CONFIG"):
        return json.loads(environ["TF_CONFIG"])
    if environ.get(HOSTS_ENV):
        if INDEX_ENV not in environ:
            raise ValueError(f"${HOSTS_ENV} is set but ${INDEX_ENV} is not: which worker is "
                             "this process?")
        hosts = [h.strip() for h in environ[HOSTS_ENV].split(",") if h.strip()]
        return tf_config(hosts, int(environ[INDEX_ENV]))
    return None


def kubernetes_manifest(workers: int, *, image: str, dataset: str = "mnist",
                        model_name: str = "convnet", name: str = "swtwo-train",
                        port: int = 12345, data_claim: str = "swtwo-data") -> list[dict]:
    """The same job on a Kubernetes cluster: a headless Service that gives each pod a DNS
    name, and an Indexed Job of ``workers`` pods. Pod ``i`` is ``<name>-i.<name>``; it
    builds its ``TF_CONFIG`` from ``$SWTWO_WORKER_HOSTS`` and the ``$JOB_COMPLETION_INDEX``
    Kubernetes sets (:func:`tf_config_from_env`). ``data_claim`` is a shared volume for the
    datasets and the run folder (the backup the chief writes must outlive a pod)."""
    from swtwo_tf.models import recipe_for

    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if not image:
        raise ValueError("image must name a container image with the kit installed")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be an int in 1-65535, got {port!r}")
    recipe_for(dataset, model_name)  # ValueError naming the known recipes
    hosts = ",".join(f"{name}-{i}.{name}:{port}" for i in range(workers))
    labels = {"app": name}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "labels": labels},
               "spec": {"clusterIP": "None", "selector": labels,
                        "ports": [{"name": "grpc", "port": port}]}}
    container = {
        "name": "worker", "image": image,
        "command": ["python", "-m", "swtwo_tf.distribute", dataset, model_name, "/work/run"],
        "env": [{"name": HOSTS_ENV, "value": hosts},
                {"name": "TFDS_DATA_DIR", "value": "/work/tensorflow_datasets"}],
        "ports": [{"containerPort": port, "name": "grpc"}],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
           "spec": {"completions": workers, "parallelism": workers,
                    "completionMode": "Indexed", "backoffLimitPerIndex": 2,
                    "template": {"metadata": {"labels": labels},
                                 "spec": {"subdomain": name, "restartPolicy": "Never",
                                          "containers": [container],
                                          "volumes": [{"name": "work", "persistentVolumeClaim":
                                                       {"claimName": data_claim}}]}}}}
    return [service, job]
