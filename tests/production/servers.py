"""Real servers on loopback for the production tests: gunicorn with the deploy settings,
``homecare jobs``, nginx with deploy/nginx.conf, each on a free port, each stopped by
the test that started it (by its process id)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                  else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0, status: int | None = None) -> None:
    """Until ``url`` answers (with ``status``, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            code = urllib.request.urlopen(url, timeout=2).status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            code = None
        if code is not None and (status is None or code == status):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer {status or ''} in {timeout} s "
                               f"(last: {code})")
        time.sleep(0.2)


class Process:
    """One child process with its log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.log_path = name, log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        # Its own process group: kill -9 of the master leaves its workers orphaned,
        # as a crash would; stop() then ends the whole group.
        self.popen = subprocess.Popen(args, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        # Workers of a master killed earlier are in the same group.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def app_env(database_url: str, secret_key: str, data_key: str, instance: Path,
            **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMECARE_")
           and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(HOMECARE_ENV="production", HOMECARE_DATABASE_URL=database_url,
               HOMECARE_SECRET_KEY=secret_key, HOMECARE_DATA_KEY=data_key,
               HOMECARE_INSTANCE_PATH=str(instance), HOMECARE_LOG_FORMAT="json",
               HOMECARE_LOG_LEVEL="WARNING", HOMECARE_TRUSTED_PROXIES="1")
    env.update(settings)
    return env


def start_api(name: str, env: dict[str, str], log_dir: Path, port: int,
              workers: int = 2) -> Process:
    env = dict(env, HOMECARE_WEB_BIND=f"127.0.0.1:{port}", HOMECARE_WEB_WORKERS=str(workers))
    return Process(name, [sys.executable, "-m", "homecare.cli", "serve", "--production"],
                   env, log_dir)


def start_jobs(name: str, env: dict[str, str], log_dir: Path) -> Process:
    return Process(name, [sys.executable, "-m", "homecare.cli", "jobs"], env, log_dir)


def render_nginx(folder: Path, listen: int, upstreams: Iterable[int]) -> Path:
    """deploy/nginx.conf with this test's ports and files (nothing else changed)."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"        server 127.0.0.1:{port} max_fails=2 fail_timeout=10s;\n"
                      for port in upstreams)
    text, count = re.subn(r"(        server api-\d:8000[^\n]*\n)+", servers, text)
    assert count == 1, "deploy/nginx.conf's upstream servers moved"
    text, count = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen};", text)
    assert count == 1
    text = text.replace("pid /tmp/nginx.pid;", f"pid {folder}/nginx.pid;")
    text = text.replace("error_log /dev/stderr warn;", f"error_log {folder}/error.log warn;")
    temp = "".join(f"    {kind}_temp_path {folder}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", "http {\n" + temp, 1)
    if os.geteuid() == 0:
        # Root starts the master; the workers must be able to use the temp folders.
        text = "user root;\n" + text
    path = folder / "nginx.conf"
    path.write_text(text)
    return path


def start_nginx(folder: Path, listen: int, upstreams: Iterable[int]) -> Process:
    conf = render_nginx(folder, listen, upstreams)
    return Process("nginx", [NGINX, "-p", str(folder), "-c", str(conf), "-e",
                             str(folder / "error.log"), "-g", "daemon off;"],
                   dict(os.environ), folder)
