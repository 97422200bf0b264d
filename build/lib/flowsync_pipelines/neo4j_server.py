"""A throw-away local Neo4j Community server for tests and ``make neo4j``.

The jars come from Maven Central via ``tools/neo4j/pom.xml``; ``tools/neo4j/neo4j.sh`` builds them
(once, into ``tools/neo4j/target/lib``) and runs the JVM in the foreground. :class:`Neo4jServer`
starts that on a free loopback port with a temporary home, without authentication, and waits
until the Bolt port answers queries::

    with Neo4jServer() as server:
        driver = neo4j.GraphDatabase.driver(server.uri)

``python -m flowsync_pipelines.neo4j_server`` does the same in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import neo4j
from neo4j.exceptions import DriverError, Neo4jError

from flowsync_pipelines.env import NEO4J_HEAP_ENV

TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools" / "neo4j"
SCRIPT = TOOLS_DIR / "neo4j.sh"
_PR_SET_PDEATHSIG = 1


class Neo4jServerError(RuntimeError):
    """The server could not be built or did not become ready."""


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, so no JVM is orphaned.

    Linux sends it when the *thread* that started the server exits: start servers from a
    thread that outlives them (the main thread, as pytest fixtures do).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Neo4jServer:
    """A Neo4j Community server on ``127.0.0.1``, auth disabled, stopped by :meth:`stop`.

    Args:
        port: Bolt port; a free one is picked when ``None``.
        home: server directory (data, logs, conf); a temporary one, removed on
            :meth:`stop`, when ``None``.
        heap: JVM heap size, e.g. ``"512m"`` (the page cache is 128m, see ``neo4j.conf``).
        start_timeout: seconds to wait for Bolt before giving up.
    """

    def __init__(
        self,
        port: int | None = None,
        home: Path | None = None,
        heap: str = "512m",
        start_timeout: float = 120.0,
    ) -> None:
        self._requested_port = port
        self._requested_home = home
        self._heap = heap
        self._start_timeout = start_timeout
        self._port: int | None = None
        self._home: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The Bolt URI, ``bolt://127.0.0.1:PORT``; only while the server runs."""
        if self._process is None or self._port is None:
            raise Neo4jServerError("Neo4j server is not running: call start() first")
        return f"bolt://127.0.0.1:{self._port}"

    @property
    def home(self) -> Path:
        """The server's home directory (``logs/console.log`` holds its output)."""
        if self._home is None:
            raise Neo4jServerError("Neo4j server is not running: call start() first")
        return self._home

    @staticmethod
    def build() -> None:
        """Check Java and resolve the jars with Maven unless ``target/lib`` is up to date."""
        result = subprocess.run(
            ["bash", str(SCRIPT), "build"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            # The script says what to install when java or mvn is missing, else shows Maven's error.
            raise Neo4jServerError(f"building Neo4j failed:\n{result.stderr[-4000:]}")

    def start(self) -> Neo4jServer:
        """Build if needed, start the JVM and wait until Bolt answers; returns ``self``."""
        if self._process is not None:
            return self
        self.build()
        self._home = self._requested_home or Path(tempfile.mkdtemp(prefix="flowsync-neo4j-"))
        (self._home / "logs").mkdir(parents=True, exist_ok=True)
        # A picked port can be taken between picking and binding: then retry with another.
        for attempt in range(3):
            self._port = self._requested_port or _free_port()
            self._spawn()
            try:
                self._wait_until_ready()
                return self
            except Neo4jServerError:
                in_use = "Address already in use" in self._log_tail()
                self._terminate()
                if not in_use or self._requested_port is not None or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        """Run ``neo4j.sh run`` (which execs the JVM) with its output in ``logs/console.log``."""
        env = {**os.environ, NEO4J_HEAP_ENV: self._heap}
        command = ["bash", str(SCRIPT), "run", "--home", str(self.home), "--port", str(self._port)]
        with open(self.home / "logs" / "console.log", "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in a test run reaches stop(), not the JVM
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def _wait_until_ready(self) -> None:
        """Poll until the driver connects and the default database answers a query."""
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise self._failure(f"Neo4j exited with code {self._process.returncode}")
            try:
                with neo4j.GraphDatabase.driver(
                    self.uri, connection_timeout=2.0, connection_acquisition_timeout=5.0
                ) as driver:
                    driver.verify_connectivity()
                    driver.execute_query("RETURN 1")
                return
            except (DriverError, Neo4jError, OSError) as error:
                last_error = error
                time.sleep(0.25)
        raise self._failure(
            f"Neo4j did not accept Bolt connections within {self._start_timeout:.0f}s "
            f"(last error: {last_error!r})"
        )

    def _log_tail(self, lines: int = 40) -> str:
        log = self.home / "logs" / "console.log"
        if not log.exists():
            return "(no log written)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def _failure(self, message: str) -> Neo4jServerError:
        return Neo4jServerError(
            f"{message}; home {self.home} (kept for inspection); "
            f"last lines of logs/console.log:\n{self._log_tail()}"
        )

    def _terminate(self, timeout: float = 30.0) -> None:
        """SIGTERM (clean shutdown with a checkpoint), then SIGKILL after ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the server and remove its home if it was a temporary one."""
        self._terminate()
        if self._home is not None and self._requested_home is None:
            shutil.rmtree(self._home, ignore_errors=True)
        self._home = None
        self._port = None

    def __enter__(self) -> Neo4jServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run a server in the foreground, print its URI, stop it on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="Bolt port (default: a free one)")
    parser.add_argument("--home", type=Path, default=None, help="home (default: a temporary one)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Neo4jServer(port=args.port, home=args.home) as server:
        print(server.uri, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
