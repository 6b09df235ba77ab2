"""Errors of the kubelet.

Hierarchy:

    KubeletError                 base; `retryable` says whether trying again later can help
    ├── ManifestError            a pod manifest or flag is invalid (field, value); permanent
    ├── ImageNotFoundError       an image name is not in the catalog; retried with back-off
    ├── ContainerRuntimeError    starting/stopping a container failed; retryable
    │   └── CommandError         a subprocess failed (argv, exit code, stderr)
    ├── NetworkError             pod networking setup or teardown failed; retryable
    ├── IPAMExhaustedError       no free address is left in the pod CIDR; retryable
    └── ConfigError              a referenced ConfigMap/Secret/key is missing; retryable
"""

from __future__ import annotations

from collections.abc import Sequence


class KubeletError(Exception):
    retryable = False


class ManifestError(KubeletError):
    """Bad user input: `field` is the JSON path, `value` what was given, `expected` what works."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field}: invalid value {value!r}: {expected}")
        self.field = field
        self.value = value
        self.expected = expected


class ImageNotFoundError(KubeletError):
    retryable = True

    def __init__(self, image: str, known: Sequence[str]) -> None:
        super().__init__(
            f'image "{image}" is not in the kubelab image catalog; known images: '
            + ", ".join(sorted(known))
        )
        self.image = image
        self.known = tuple(known)


class ContainerRuntimeError(KubeletError):
    retryable = True


class CommandError(ContainerRuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()}")
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr


class NetworkError(KubeletError):
    retryable = True


class IPAMExhaustedError(KubeletError):
    retryable = True


class ConfigError(KubeletError):
    """A container refers to a ConfigMap, Secret or key that does not exist
    (CreateContainerConfigError); retried, as the object may appear later."""

    retryable = True
