"""Runs a real infer-server on a loopback port for tests.

The server writes its ready file ({"grpc_port", "metrics_port", "pid"}) only once every model is
loaded and health is SERVING, so waiting for that file (with a deadline, while watching that the
process is still alive) is the whole readiness protocol: no fixed sleeps.
"""

import json
import os
import signal
import subprocess
import tempfile
import time


class ServerProcess:
    def __init__(self, binary, models, extra_args=(), ready_timeout=180.0):
        """models: "NAME=PATH[,rpcs=Generate+Tokenize]" strings, one --model flag each."""
        self.binary = binary
        self.models = list(models)
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.process = None
        self.grpc_port = None
        self.metrics_port = None
        self._dir = None
        self._log = None

    @property
    def target(self):
        return f"127.0.0.1:{self.grpc_port}"

    def start(self):
        self._dir = tempfile.TemporaryDirectory(prefix="infer-server-test-")
        ready_file = os.path.join(self._dir.name, "ready.json")
        self._log = open(os.path.join(self._dir.name, "server.log"), "w+b")
        command = [self.binary, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                   "--ready-file", ready_file]
        for model in self.models:
            command += ["--model", model]
        command += self.extra_args
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            info = self._read_ready_file(ready_file)
            if info is not None:
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"infer-server exited with {self.process.returncode} before "
                                   f"it was ready:\n{self.log_text()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"infer-server not ready after {self.ready_timeout} s:\n"
                                   f"{self.log_text()}")
            try:
                # Waiting on the process doubles as the poll interval and notices an early exit.
                self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        if info.get("pid") != self.process.pid:
            raise RuntimeError(f"ready file names pid {info.get('pid')}, started {self.process.pid}")
        self.grpc_port = int(info["grpc_port"])
        self.metrics_port = int(info.get("metrics_port", 0))
        return self

    @staticmethod
    def _read_ready_file(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return None  # not there yet, or caught mid-write by a server that does not rename

    def stop(self, timeout=30.0):
        """SIGTERM, then wait for the exit. Returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"infer-server ignored SIGTERM for {timeout} s:\n{self.log_text()}")

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_text(self):
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace")[-20000:]

    def close(self):
        self.kill()
        if self._log is not None:
            self._log.close()
        if self._dir is not None:
            self._dir.cleanup()
