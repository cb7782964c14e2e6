"""Run a systemd service's commands the way systemd would, on a machine
whose PID 1 is not systemd: the [Service] section's EnvironmentFile= and
Environment=, $VAR and ${VAR} expansion, the command prefixes, and the
order start-pre, start, stop. (systemd.service(5), systemd.exec(5))"""

import os
import re
import shlex
import signal
import subprocess

# what systemd gives a service (systemd.exec(5), "Environment variables")
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            "LANG": "C.UTF-8"}


def parse(path):
    """{section: [(key, value)]}, keys in file order (repeats kept)."""
    sections, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
            else:
                key, _, value = line.partition("=")
                current.append((key.strip(), value.strip()))
    return sections


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in "#;" and "=" in line:
                key, _, value = line.partition("=")
                env[key.strip()] = " ".join(shlex.split(value.strip()))
    return env


class Unit:
    def __init__(self, path):
        self.path = path
        self.service = parse(path)["Service"]
        self.env = dict(BASE_ENV)
        for key, value in self.service:
            if key == "EnvironmentFile":
                optional = value.startswith("-")
                name = value.lstrip("-")
                if os.path.exists(name) or not optional:
                    self.env.update(read_env_file(name))
            elif key == "Environment":
                for word in shlex.split(value):
                    k, _, v = word.partition("=")
                    self.env[k] = v

    def values(self, key):
        return [v for k, v in self.service if k == key]

    def argv(self, line):
        """(argv, ignore_failure): ${VAR} is one word, $VAR is split into
        words (none if empty); prefixes "-", "+", "!", "@" stripped."""
        ignore = False
        while line and line[0] in "-+!@:":
            ignore |= line[0] == "-"
            line = line[1:]
        words = []
        for word in shlex.split(line):
            whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
            if whole:
                words += self.env.get(whole.group(1), "").split()
            else:
                words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                                    lambda m: self.env.get(m.group(1), ""),
                                    word))
        return words, ignore

    def run(self, key, timeout=600):
        """Every command of key (ExecStartPre, ExecStart, ExecStop) in
        turn, from /, each to its end; the first failure raises."""
        for line in self.values(key):
            argv, ignore = self.argv(line)
            r = subprocess.run(argv, env=self.env, cwd="/", timeout=timeout,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True)
            if r.returncode != 0 and not ignore:
                raise RuntimeError(f"{key} {argv} exited {r.returncode}:\n"
                                   f"{r.stdout}{r.stderr}")

    def spawn(self, log):
        """ExecStart of a Type=simple service, left running."""
        (line,) = self.values("ExecStart")
        argv, _ = self.argv(line)
        return subprocess.Popen(argv, env=self.env, cwd="/", stdout=log,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

    @staticmethod
    def stop(proc, timeout=90):
        """systemd's stop of a service without ExecStop: SIGTERM, then
        SIGKILL after TimeoutStopSec."""
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
