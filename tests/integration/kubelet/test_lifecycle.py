"""Container lifecycle as Kubernetes: restarts and back-off, probes, init containers, exit
codes and reasons, graceful deletion that leaves nothing behind, adoption after a restart."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from node_agent.kubelet import rundir
from tests.integration.kubelet.harness import KubeletHarness, Object, agnhost, busybox, pod
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def node_get(kubelet: KubeletHarness, ip: str, path: str) -> str:
    """HTTP GET from the node namespace (where the kubelet's probes come from)."""
    out = kubelet.in_node("busybox", "wget", "-qO-", f"http://{ip}:8080{path}")
    return out.stdout


@pytest.mark.slow
def test_crashing_container_reaches_crash_loop_back_off(kubelet: KubeletHarness) -> None:
    kubelet.apply(pod("crash", busybox("c", "echo run; exit 3")))

    def looping() -> bool:
        c = kubelet.container("crash", "c")
        waiting = c.get("state", {}).get("waiting", {})
        return bool(c.get("restartCount", 0) >= 3 and waiting.get("reason") == "CrashLoopBackOff")

    wait_until(looping, 30, message="CrashLoopBackOff after 3 restarts")
    c = kubelet.container("crash", "c")
    last = c["lastState"]["terminated"]
    assert last["exitCode"] == 3
    assert last["reason"] == "Error"
    assert "back-off" in c["state"]["waiting"]["message"]
    assert kubelet.status("crash")["phase"] == "Running"
    # Logs: the current and the previous run are kept, older ones are not.
    n = c["restartCount"]
    assert kubelet.logs("crash", "c", n - 1) == "run\n"
    assert kubelet.logs("crash", "c", n - 3) == ""


def test_liveness_failure_restarts_the_container(kubelet: KubeletHarness) -> None:
    probe = {
        "httpGet": {"path": "/healthz", "port": 8080},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    kubelet.apply(pod("live", agnhost(livenessProbe=probe)))
    st = kubelet.wait_phase("live", "Running")
    wait_until(lambda: node_get(kubelet, st["podIP"], "/healthz") == "ok", 10)
    assert kubelet.container("live", "web")["restartCount"] == 0
    node_get(kubelet, st["podIP"], "/fail")
    wait_until(lambda: kubelet.container("live", "web").get("restartCount") == 1, 20)
    # The new process is healthy again and stays up.
    wait_until(lambda: node_get(kubelet, st["podIP"], "/healthz") == "ok", 10)
    assert "Liveness probe failed" in kubelet.log()
    reasons = [e["reason"] for e in kubelet.events("live")]
    assert "Unhealthy" in reasons
    assert "Killing" in reasons
    killing = next(e for e in kubelet.events("live") if e["reason"] == "Killing")
    assert killing["message"] == "Container web failed liveness probe, will be restarted"


def test_readiness_flips_the_ready_condition(kubelet: KubeletHarness) -> None:
    probe = {
        "httpGet": {"path": "/healthz", "port": 8080},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    kubelet.apply(pod("ready", agnhost(readinessProbe=probe)))
    st = kubelet.wait_ready("ready")

    def ready() -> str:
        conds = {c["type"]: c["status"] for c in kubelet.status("ready").get("conditions", [])}
        return str(conds.get("Ready", ""))

    node_get(kubelet, st["podIP"], "/fail")
    wait_until(lambda: ready() == "False", 10)
    assert kubelet.container("ready", "web")["ready"] is False
    assert kubelet.container("ready", "web")["restartCount"] == 0  # readiness never restarts
    node_get(kubelet, st["podIP"], "/recover")
    wait_until(lambda: ready() == "True", 10)


def test_init_containers_run_in_order_before_the_app(kubelet: KubeletHarness) -> None:
    shared = f"/tmp/{kubelet.tag}-init"
    mounts = [{"name": "work", "mountPath": shared}]
    spec = pod(
        "init",
        busybox("app", f"cat {shared}/order", volumeMounts=mounts),
        initContainers=[
            busybox("first", f"sleep 0.5; echo first > {shared}/order", volumeMounts=mounts),
            busybox("second", f"echo second >> {shared}/order", volumeMounts=mounts),
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
        restartPolicy="Never",
    )
    kubelet.apply(spec)
    kubelet.wait_phase("init", "Succeeded")
    assert kubelet.logs("init", "app") == "first\nsecond\n"
    for name in ("first", "second"):
        term = kubelet.container("init", name, init=True)["state"]["terminated"]
        assert term["reason"] == "Completed"
    conds = {c["type"]: c["status"] for c in kubelet.status("init")["conditions"]}
    assert conds["Initialized"] == "True"


def test_volumes_over_node_paths_hide_nothing_from_the_shim_or_each_other(
    kubelet: KubeletHarness,
) -> None:
    # An emptyDir over the filesystem of the kubelet's runtime state (/dev/shm or /run: the
    # shim writes the pid and exit files there), one over the kubelet's root dir (where the
    # volumes' sources are), then a volume whose source that one hides. /bin/sh is the node's,
    # outside both.
    state_fs = str(kubelet.run_dir.parents[2])
    data = f"/tmp/{kubelet.tag}-data"
    mounts = [
        {"name": "state", "mountPath": state_fs},
        {"name": "root", "mountPath": str(kubelet.root)},
        {"name": "data", "mountPath": data},
    ]
    script = f"echo kept > {data}/f; cat {data}/f; ls -A {state_fs} | wc -l"
    c = {"name": "c", "image": "busybox", "command": ["/bin/sh", "-c", script]}
    vols: list[Object] = [{"name": n, "emptyDir": {}} for n in ("state", "root", "data")]
    kubelet.apply(pod("cover", {**c, "volumeMounts": mounts}, volumes=vols, restartPolicy="Never"))
    kubelet.wait_phase("cover", "Succeeded")
    assert kubelet.logs("cover", "c") == "kept\n0\n"  # the data volume; state_fs empty
    kept = [p for p in kubelet.root.rglob("f") if p.is_file() and p.read_text() == "kept\n"]
    assert len(kept) == 1, kept  # written into the data emptyDir on the node


def test_a_memory_empty_dir_is_a_tmpfs_of_its_size_limit_gone_with_the_pod(
    kubelet: KubeletHarness,
) -> None:
    script = "grep ' /dev/shm ' /proc/mounts | cut -d' ' -f3,4; sleep 3600"
    spec = busybox("c", script, volumeMounts=[{"name": "shm", "mountPath": "/dev/shm"}])
    shm = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}
    kubelet.apply(pod("mem", spec, volumes=[shm]))
    kubelet.wait_phase("mem", "Running")
    line = wait_until(lambda: kubelet.logs("mem", "c"), 10, message="the container's mounts")
    fstype, options = line.splitlines()[-1].split()  # the last mount there is the one seen
    assert fstype == "tmpfs"
    assert "size=16384k" in options.split(","), options
    assert {"nosuid", "nodev"} <= set(options.split(",")), options
    mounted = [m for m in kubelet.leftovers() if m.startswith(f"{kubelet.root}/")]
    assert [m.rsplit("/", 1)[1] for m in mounted] == ["shm"]  # on the node, under the pod
    kubelet.delete("mem")
    wait_until(lambda: kubelet.pod("mem") is None, 20, message="pod removed")
    assert [m for m in kubelet.leftovers() if m.startswith(f"{kubelet.root}/")] == []


def test_a_configmap_change_reaches_the_running_pods_volume(kubelet: KubeletHarness) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "live"}}
    kubelet.apply({**config, "data": {"mode": "one", "old": "x"}}, file="live-config")
    script = "while true; do echo $(cat /config/mode) $(ls /config | wc -l); sleep 0.3; done"
    c = busybox("c", script, volumeMounts=[{"name": "cfg", "mountPath": "/config"}])
    kubelet.apply(pod("live", c, volumes=[{"name": "cfg", "configMap": {"name": "live"}}]))
    kubelet.wait_phase("live", "Running")
    wait_until(lambda: "one 2" in kubelet.logs("live", "c"), 10, message="the first value")
    kubelet.apply({**config, "data": {"mode": "two"}}, file="live-config")
    # within a --sync-frequency (5 s here): the new value, and the removed key gone
    wait_until(lambda: "two 1" in kubelet.logs("live", "c"), 20, message="the new value")
    assert kubelet.container("live", "c")["restartCount"] == 0


def test_a_volume_over_what_the_container_runs_from_is_a_config_error(
    kubelet: KubeletHarness,
) -> None:
    # busybox's applets live in the kubelet's images dir: a volume there would hide `sh`.
    home = rundir.images_home(kubelet.root)
    mounts = [{"name": "v", "mountPath": str(home)}]
    spec = busybox("c", "echo never", volumeMounts=mounts)
    kubelet.apply(pod("hides", spec, volumes=[{"name": "v", "emptyDir": {}}]))

    def waiting() -> Object:
        state: Object = kubelet.container("hides", "c").get("state", {}).get("waiting", {})
        return state if state.get("reason") == "CreateContainerConfigError" else {}

    message = wait_until(waiting, 20, message="CreateContainerConfigError")["message"]
    assert f'volumeMounts[0].mountPath "{home}" would hide {home}/images/busybox/sh' in message
    assert "container c runs from" in message


def test_exit_codes_and_reasons(kubelet: KubeletHarness) -> None:
    hog = {
        "name": "hog",
        "image": "python",
        "command": ["python3", "-c", "b = bytearray(256 * 1024 * 1024); print(len(b))"],
        "resources": {"limits": {"memory": "64Mi"}},
    }
    spec = pod(
        "codes",
        busybox("ok", "exit 0"),
        busybox("bad", "exit 7"),
        hog,
        restartPolicy="Never",
    )
    kubelet.apply(spec)
    st = kubelet.wait_phase("codes", "Failed")
    terms = {c["name"]: c["state"]["terminated"] for c in st["containerStatuses"]}
    assert (terms["ok"]["exitCode"], terms["ok"]["reason"]) == (0, "Completed")
    assert (terms["bad"]["exitCode"], terms["bad"]["reason"]) == (7, "Error")
    assert (terms["hog"]["exitCode"], terms["hog"]["reason"]) == (137, "OOMKilled")


def test_unknown_image_backs_off_and_lists_known_images(kubelet: KubeletHarness) -> None:
    kubelet.apply(pod("noimg", {"name": "c", "image": "mysql:8"}))

    def reason() -> str:
        return str(
            kubelet.container("noimg", "c").get("state", {}).get("waiting", {}).get("reason")
        )

    wait_until(lambda: reason() == "ErrImagePull", 10)
    assert "busybox" in kubelet.container("noimg", "c")["state"]["waiting"]["message"]
    wait_until(lambda: reason() == "ImagePullBackOff", 10)
    assert kubelet.status("noimg")["phase"] == "Pending"


def _pids(kubelet: KubeletHarness, name: str) -> list[int]:
    out = subprocess.run(
        ["ip", "netns", "pids", kubelet.pod_netns(name)], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


def _both_pids(kubelet: KubeletHarness, name: str) -> list[int]:
    """The pod's processes once there are at least two (a shim and its container)."""
    pids = _pids(kubelet, name)
    return pids if len(pids) >= 2 else []


def test_deletion_runs_pre_stop_and_leaves_nothing_behind(kubelet: KubeletHarness) -> None:
    marker = kubelet.root.parent / "prestop"
    spec = pod(
        "gone",
        agnhost(
            resources={"limits": {"memory": "128Mi", "cpu": "500m"}},
            lifecycle={"preStop": {"exec": {"command": ["sh", "-c", f"echo bye > {marker}"]}}},
        ),
        busybox("side", "sleep 3600"),
        terminationGracePeriodSeconds=1,
    )
    kubelet.apply(spec)
    st = kubelet.wait_phase("gone", "Running")
    uid = kubelet.uid("gone")
    netns = kubelet.pod_netns("gone")
    pids = wait_until(lambda: _both_pids(kubelet, "gone"), 10)
    cgroup = Path("/sys/fs/cgroup/memory") / f"kubelab-{kubelet.tag}" / f"pod{uid}"
    assert (cgroup / "web" / "memory.limit_in_bytes").read_text().strip() == str(128 * 2**20)
    links_before = kubelet.in_node("ip", "-o", "link").stdout
    assert "veth" in links_before

    kubelet.delete("gone")
    wait_until(lambda: kubelet.pod("gone") is None, 20, message="pod removed")
    assert marker.read_text() == "bye\n"
    assert not os.path.exists(f"/run/netns/{netns}")
    assert all(not os.path.exists(f"/proc/{p}") for p in pids)
    assert "veth" not in kubelet.in_node("ip", "-o", "link").stdout
    assert not cgroup.exists()
    assert not (kubelet.root / "pods" / uid).exists()
    assert not (kubelet.run_dir / "pods" / uid).exists()
    assert not list((kubelet.root / "logs").glob(f"*{uid}"))
    ipam = kubelet.run_dir / "ipam" / "10.244.7.0_24"
    assert not (ipam / st["podIP"]).exists()


def test_restarted_kubelet_adopts_running_pods(kubelet: KubeletHarness) -> None:
    kubelet.apply(pod("keep", agnhost()))
    before = kubelet.wait_phase("keep", "Running")
    # the shim and the container process, both inside the pod's network namespace
    pids = wait_until(lambda: _both_pids(kubelet, "keep"), 10)
    container_id = kubelet.container("keep", "web")["containerID"]
    uid = kubelet.uid("keep")
    assert (kubelet.run_dir / "pods" / uid / "pod.json").exists()  # runtime state on /run
    assert not (kubelet.root / "pods" / uid / "pod.json").exists()
    kubelet.stop()
    assert all(os.path.exists(f"/proc/{p}") for p in pids)  # pods outlive the kubelet
    kubelet.start()
    # Let the new kubelet relist a few times, then nothing may have been started twice.
    wait_until(lambda: "adopting running pods count=1" in kubelet.log(), 10)
    wait_until(lambda: kubelet.log().count("pod added pod=default/keep") >= 2, 10)
    after = kubelet.wait_phase("keep", "Running")
    assert after["podIP"] == before["podIP"]
    c = kubelet.container("keep", "web")
    assert c["containerID"] == container_id
    assert c["restartCount"] == 0
    assert sorted(_pids(kubelet, "keep")) == sorted(pids)
    ip = before["podIP"]
    assert wait_until(lambda: node_get(kubelet, ip, "/hostname"), 10) == f"keep-{kubelet.tag}"


def test_exit_while_kubelet_is_down_is_seen_and_restarted(kubelet: KubeletHarness) -> None:
    flag = f"/tmp/{kubelet.tag}-exit"
    script = f"while [ ! -e {flag} ]; do sleep 0.1; done; rm -f {flag}; exit 5"
    kubelet.apply(pod("late", busybox("c", script)))
    kubelet.wait_phase("late", "Running")
    kubelet.stop()
    Path(flag).touch()
    wait_until(lambda: not Path(flag).exists(), 10)  # the container saw it and exited
    kubelet.start()

    def restarted() -> bool:
        c = kubelet.container("late", "c")
        term = c.get("lastState", {}).get("terminated", {})
        return c.get("restartCount") == 1 and term.get("exitCode") == 5

    wait_until(restarted, 20, message="exit code 5 seen after the kubelet restart")


def test_sigterm_reaches_the_container_and_an_edited_manifest_replaces_the_pod(
    kubelet: KubeletHarness,
) -> None:
    script = "trap 'echo got-term; exit 0' TERM; echo v1; while true; do sleep 0.1; done"
    spec = pod("edit", busybox("c", script))
    spec["spec"]["terminationGracePeriodSeconds"] = 30
    kubelet.apply(spec)
    kubelet.wait_phase("edit", "Running")
    old_uid = kubelet.uid("edit")
    wait_until(lambda: "v1" in kubelet.logs("edit", "c"), 10)
    log_dir = next((kubelet.root / "logs").glob(f"*{old_uid}"))
    spec["spec"]["containers"][0]["command"][2] = script.replace("v1", "v2")
    kubelet.apply(spec)
    # The old pod goes (its shell handles SIGTERM at once, long before the 30 s grace
    # period) and the new one runs under a new uid.
    wait_until(lambda: kubelet.pod("edit") and kubelet.uid("edit") != old_uid, 15)
    wait_until(lambda: "v2" in kubelet.logs("edit", "c"), 10)
    wait_until(lambda: not log_dir.exists(), 10)  # removed in parallel with the new start
    assert "grace period over" not in kubelet.log()


def test_post_start_hook_host_aliases_and_dns_config(kubelet: KubeletHarness) -> None:
    shared = f"/tmp/{kubelet.tag}-hook"
    script = (
        f"until [ -e {shared}/message ]; do sleep 0.1; done; cat {shared}/message; "
        "cat /etc/hosts /etc/resolv.conf; echo END; sleep 3600"
    )
    container = busybox(
        "c",
        script,
        volumeMounts=[{"name": "work", "mountPath": shared}],
        lifecycle={
            "postStart": {
                "exec": {"command": ["sh", "-c", f"echo Hello from postStart > {shared}/message"]}
            }
        },
    )
    spec = pod(
        "hooks",
        container,
        volumes=[{"name": "work", "emptyDir": {}}],
        hostAliases=[{"ip": "10.9.9.9", "hostnames": ["db.local"]}],
        dnsConfig={"searches": ["lab.example"], "options": [{"name": "ndots", "value": "2"}]},
    )
    kubelet.apply(spec)
    kubelet.wait_phase("hooks", "Running")

    def output() -> str:
        text = kubelet.logs("hooks", "c")
        return text if "END" in text else ""

    out = wait_until(output, 15)
    assert "Hello from postStart" in out
    assert "10.9.9.9\tdb.local" in out
    assert "search lab.example" in out
    assert "ndots:2" in out
