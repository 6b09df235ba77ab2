"""The kubelet's server on :10250: container logs (tail, previous, follow) and exec."""

from __future__ import annotations

import json

import pytest

from tests.integration.kubelet.harness import KubeletHarness, busybox, pod
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(90)]


def test_logs_and_exec(kubelet: KubeletHarness) -> None:
    assert kubelet.api("GET", "/healthz", token="")[0] == 200
    assert kubelet.api("GET", "/pods", token="wrong")[0] == 401
    script = 'for i in 1 2 3 4 5; do echo "line $i"; done; sleep 3600'
    kubelet.apply(pod("talk", busybox("c", script)))
    kubelet.wait_phase("talk", "Running")
    base = f"/containerLogs/default/talk-{kubelet.tag}/c"
    wait_until(lambda: b"line 5" in kubelet.api("GET", base)[2], 10)
    code, _, body = kubelet.api("GET", base + "?tailLines=2")
    assert (code, body) == (200, b"line 4\nline 5\n")
    stamped = kubelet.api("GET", base + "?tailLines=1&timestamps=true")[2]
    assert stamped.startswith(b"20")
    assert stamped.endswith(b"Z line 5\n")
    assert kubelet.api("GET", base + "?sinceSeconds=3600")[2].count(b"line") == 5
    assert kubelet.api("GET", base + "?sinceTime=2999-01-01T00:00:00Z")[2] == b""
    assert kubelet.api("GET", base + "?previous=true")[0] == 400  # it never restarted
    assert kubelet.api("GET", "/containerLogs/default/nope/c")[0] == 404

    code, headers, body = kubelet.api(
        "POST", f"/exec/default/talk-{kubelet.tag}/c?command=hostname"
    )
    assert (code, headers["X-Exit-Code"], body) == (200, "0", f"talk-{kubelet.tag}\n".encode())
    code, headers, body = kubelet.api(
        "POST",
        f"/exec/default/talk-{kubelet.tag}/c?command=sh&command=-c&command=cat%3Bexit%204",
        body=b"from stdin",
    )
    assert (headers["X-Exit-Code"], body) == ("4", b"from stdin")
    pods = json.loads(kubelet.api("GET", "/pods")[2])
    assert [p["metadata"]["name"] for p in pods["items"]] == [f"talk-{kubelet.tag}"]
    assert pods["items"][0]["status"]["phase"] == "Running"


def test_exec_as_the_containers_user_runs_busybox_applets(kubelet: KubeletHarness) -> None:
    # The image's applet directory is reachable by any runAsUser (the kubelet's root dir may
    # sit below a directory only root can enter, as a lab's does).
    spec = busybox("c", "command -v wget; sleep 3600")
    kubelet.apply(pod("nobody", spec, securityContext={"runAsUser": 65534, "runAsGroup": 65534}))
    kubelet.wait_phase("nobody", "Running")
    wget = wait_until(lambda: kubelet.logs("nobody", "c").strip(), 10, message="the PATH")
    assert wget.endswith("/images/busybox/wget"), wget  # not the node's, nor missing
    code, headers, body = kubelet.api(
        "POST", f"/exec/default/nobody-{kubelet.tag}/c?command=id&command=-u"
    )
    assert (code, headers["X-Exit-Code"], body) == (200, "0", b"65534\n")


def test_previous_logs_and_follow(kubelet: KubeletHarness) -> None:
    kubelet.apply(pod("twice", busybox("c", "echo run-$RANDOM; sleep 1; echo done; exit 1")))
    wait_until(lambda: kubelet.container("twice", "c").get("restartCount", 0) >= 1, 20)
    base = f"/containerLogs/default/twice-{kubelet.tag}/c"
    code, _, prev = kubelet.api("GET", base + "?previous=true")
    assert code == 200
    assert prev.startswith(b"run-")
    assert prev.endswith(b"done\n")
    # follow streams until the container exits: the reply ends with its last line
    code, _, body = kubelet.api("GET", base + "?follow=true")
    assert code == 200
    assert body.endswith(b"done\n")
