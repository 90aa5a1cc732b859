"""A Dask cluster of separate hosts on one machine, for tests and benchmarks: a scheduler and
workers, each in its own network namespace (`ip netns`) on a bridge of the harness's own
addresses, each in its own mount namespace with a private tmpfs over /tmp (its HOME, TMPDIR,
working and Dask directories live there, and nothing of the caller's /tmp is visible), so
that nothing a run does can pass through a shared local path: what the hosts share is what
a real cluster shares, the network (the database, the object store, the Prefect API).

Services of the calling process that listen on loopback only (PostgreSQL, a Prefect API, the
sandbox exchange) are offered to the hosts through `expose()`: a TCP relay on the bridge's
host-side address.

    with NetnsCluster(workers=2) as cluster:        # root, and `ip`, `unshare`, `mount`
        db_port = cluster.expose(5432)               # 10.x.y.1:<port> -> 127.0.0.1:5432
        ... run the flow with orchestration.dask_address = cluster.scheduler_address ...
        cluster.kill_worker(0)                       # SIGKILL, as a lost machine

`unavailable()` says why a machine cannot do this (no privilege, no `ip`), for a test to skip
or fail with the reason. Everything is removed in `close()` (namespaces, links, processes).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SCHEDULER_PORT = 8786
PRIVATE = "/tmp/candlecast-host"  # inside each host's own tmpfs


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    for tool in ("ip", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (iproute2 / util-linux)"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    probe = f"ccprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip() or made.returncode}"
    try:
        inside = subprocess.run(
            ["ip", "netns", "exec", probe, "mount", "-t", "tmpfs", "tmpfs", "/mnt"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if inside.returncode != 0:
            return f"cannot mount a private tmpfs in a namespace: {inside.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


class Relay:
    """A TCP relay: connections to (`host`, `port`) are passed through to `target`."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._closing = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"relay-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()


@dataclass
class Host:
    """One machine of the cluster: its namespace, address and process."""

    name: str
    namespace: str
    address: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NetnsCluster:
    """A Dask scheduler and `workers` workers as separate hosts (see the module's docstring).

    `env`: the workers' environment besides a minimal PATH, HOME and TMPDIR (credentials of the
    object store, PREFECT_API_URL, ...). `logs`: where each host's output goes (a folder of the
    caller's; the hosts themselves cannot see it)."""

    def __init__(
        self,
        workers: int = 2,
        *,
        logs: Path,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        threads_per_worker: int = 1,
        memory_limit: str = "0",
    ) -> None:
        self.id = uuid.uuid4().hex[:4]
        self.logs = Path(logs)
        self.env = dict(env or {})
        self.python = python
        self.threads = threads_per_worker
        self.memory_limit = memory_limit
        self.subnet = self._free_subnet()
        self.host_address = str(self.subnet[1])
        self.bridge = f"ccb{self.id}"
        self.scheduler = self._host("scheduler", 2)
        self.workers = [self._host(f"worker-{i + 1}", 3 + i) for i in range(workers)]
        self._relays: list[Relay] = []
        self._made: list[str] = []  # namespaces made, for close()

    # -- addresses -----------------------------------------------------------------------------

    @staticmethod
    def _free_subnet() -> ipaddress.IPv4Network:
        taken = _ip("-4", "-o", "addr").stdout
        for _ in range(100):
            subnet = ipaddress.ip_network(f"10.231.{random.randint(1, 254)}.0/24")
            if f" 10.231.{subnet.network_address.packed[2]}." not in taken:
                return subnet  # type: ignore[return-value]
        raise RuntimeError("no free 10.231.x.0/24 subnet for the cluster's bridge")

    def _host(self, name: str, index: int) -> Host:
        return Host(name, f"cc{self.id}-{name}", str(self.subnet[index]), self.logs / f"{name}.log")

    @property
    def scheduler_address(self) -> str:
        return f"tcp://{self.scheduler.address}:{SCHEDULER_PORT}"

    # -- network -------------------------------------------------------------------------------

    def open_network(self) -> NetnsCluster:
        """Make the bridge and the hosts' namespaces (`start` does it when not done yet): after
        this, `expose` and services bound to `host_address` can be set up before the
        processes start with an environment naming them."""
        if self._made:
            return self
        try:
            self._network()
        except BaseException:
            self.close()
            raise
        return self

    def _network(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append(f"link:{self.bridge}")
        _ip("addr", "add", f"{self.host_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, host in enumerate([self.scheduler, *self.workers]):
            _ip("netns", "add", host.namespace)
            self._made.append(f"netns:{host.namespace}")
            veth = f"ccv{self.id}{i}"
            _ip(
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace
            )
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            _ip("-n", host.namespace, "route", "add", "default", "via", self.host_address)

    def expose(self, port: int, host: str = "127.0.0.1") -> int:
        """Offer the caller's service at `host:port` to the cluster's hosts: returns the port
        on `host_address` that relays to it."""
        relay = Relay(self.host_address, (host, port))
        self._relays.append(relay)
        return relay.port

    # -- processes -----------------------------------------------------------------------------

    def _start(self, host: Host, command: list[str]) -> None:
        """Run `command` on `host`: its namespace, a private tmpfs over /tmp, HOME, TMPDIR and
        working directory in it, and only the environment given."""
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": f"{PRIVATE}/home",
            "TMPDIR": f"{PRIVATE}/tmp",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "CANDLECAST_HOST_NAME": host.name,
        } | self.env
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        script = (
            "mount -t tmpfs tmpfs /tmp && "
            f"mkdir -p {PRIVATE}/home {PRIVATE}/tmp {PRIVATE}/work && cd {PRIVATE}/work && "
            f"exec env -i {exports} {' '.join(_quote(c) for c in command)}"
        )
        host._log = host.log.open("ab")
        host.process = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, "unshare", "--mount", "--propagation",
             "private", "sh", "-c", script],
            stdout=host._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: kill_worker takes all of it
        )  # fmt: skip

    def _dask(self) -> str:
        return str(Path(self.python).parent / "dask")

    def start(self, timeout: float = 180) -> NetnsCluster:
        self.open_network()
        try:
            self._start(
                self.scheduler,
                [self._dask(), "scheduler", "--host", self.scheduler.address, "--port",
                 str(SCHEDULER_PORT), "--no-dashboard"],
            )  # fmt: skip
            for worker in self.workers:
                self.start_worker(worker)
            self.wait_for_workers(len(self.workers), timeout)
        except BaseException:
            self.close()
            raise
        return self

    def start_worker(self, worker: Host) -> None:
        self._start(
            worker,
            [self._dask(), "worker", self.scheduler_address, "--host", worker.address,
             "--name", worker.name, "--nworkers", "1", "--nthreads", str(self.threads),
             "--no-nanny", "--no-dashboard", "--memory-limit", self.memory_limit,
             "--local-directory", f"{PRIVATE}/dask", "--death-timeout", "120"],
        )  # fmt: skip

    def client(self, **kwargs: Any) -> Any:
        """A client of the scheduler that never becomes this process's default: a flow run in
        this process whose Dask task runner looks for a global client (prefect-dask does, before
        its own address) must not find a watcher's, which closes when its watch ends."""
        from distributed import Client

        kwargs.setdefault("set_as_default", False)
        return Client(self.scheduler_address, timeout=30, **kwargs)

    def wait_for_workers(self, n: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            for host in [self.scheduler, *self.workers]:
                if host.process is not None and host.process.poll() not in (None, 0, -9):
                    raise RuntimeError(f"{host.name} exited:\n{self.tail(host)}")
            try:
                with self.client() as client:
                    client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
                    return
            except Exception as exc:  # the scheduler may not listen yet
                last = exc
                time.sleep(1)
        raise RuntimeError(f"the cluster did not get {n} worker(s) in {timeout:g} s: {last}")

    def worker_names(self) -> dict[str, str]:
        """Dask worker address -> host name, as the scheduler sees them now."""
        with self.client() as client:
            info = client.scheduler_info()["workers"]
        return {address: w.get("name", "") for address, w in info.items()}

    def processing(self) -> dict[str, list[str]]:
        """Host name -> the keys of the tasks it is running now."""
        with self.client() as client:
            running = client.processing()
            names = {a: w.get("name", a) for a, w in client.scheduler_info()["workers"].items()}
        return {str(names.get(a, a)): [str(k) for k in keys] for a, keys in running.items()}

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker `index` and everything it started, as a lost machine."""
        host = self.workers[index]
        if host.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(host.process.pid, signal.SIGKILL)
            host.process.wait(timeout=30)

    def tail(self, host: Host, lines: int = 40) -> str:
        try:
            return "\n".join(host.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        for host in [*self.workers, self.scheduler]:
            if host.process is not None and host.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(host.process.pid, signal.SIGTERM)
                try:
                    host.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(host.process.pid, signal.SIGKILL)
                    host.process.wait(timeout=10)
            if host._log is not None:
                host._log.close()
                host._log = None
        for relay in self._relays:
            relay.close()
        self._relays.clear()
        for made in reversed(self._made):
            kind, name = made.split(":", 1)
            if kind == "netns":
                _ip("netns", "del", name, check=False)
            else:
                _ip("link", "del", name, check=False)
        self._made.clear()

    def __enter__(self) -> NetnsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(str(value))
