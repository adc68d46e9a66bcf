"""A Kubernetes API emulator for Slipway's demos and tests (the "sandbox cluster").

It speaks enough of the real REST API that the official ``kubernetes`` client,
``kubectl`` and the Helm SDK work against it unchanged, and a simulated
controller rolls workloads out. See sandbox/README.md for what it leaves out.
"""

from sandbox.kube.config import SandboxConfig

__all__ = ["SandboxConfig"]
