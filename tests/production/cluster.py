"""A throwaway PostgreSQL cluster: initdb and pg_ctl from the machine's PostgreSQL, in a
temporary folder, on a free port; run as the ``postgres`` OS user when we are root
(PostgreSQL refuses to run as root, and CI runs as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.production.servers import free_port


def _bin_dir() -> Path | None:
    for version in ("17", "16", "15", "14"):
        path = Path(f"/usr/lib/postgresql/{version}/bin")
        if (path / "initdb").exists():
            return path
    found = shutil.which("initdb")
    return Path(found).parent if found else None


BIN = _bin_dir()


class Cluster:
    def __init__(self) -> None:
        assert BIN is not None
        self.folder = Path(tempfile.mkdtemp(prefix="homecare-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args) -> None:
        subprocess.run([*self._as, *map(str, args)], check=True, capture_output=True,
                       timeout=120)

    def start(self) -> None:
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w",
                  "-t", "60", "-o", f"-p {self.port} -k {self.folder} "
                  "-c listen_addresses=127.0.0.1 -c max_connections=200", "start")

    def stop(self) -> None:
        """Fast shutdown: sessions are ended, the data is flushed; clients see the
        server go away mid-connection, as in a failover or a crash of the host."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.folder, ignore_errors=True)
