"""The output folder of a training run: one run at a time, and a resume only with the same settings.

Two guarantees that keep runs from mixing silently:

* `RunLock`: a second run started into a folder that a live run is writing to is refused at
  once, with a message naming the running process. The lock is an advisory ``fcntl.flock`` on
  ``OUT/.run.lock``, which the kernel releases when its process ends, however it ends: a run
  killed with SIGKILL leaves a file behind but no lock, so a resume is never blocked by it.
* `check_settings`: a run records the settings that shape its training (``OUT/run_settings.json``)
  when it starts afresh. Resuming an unfinished run with other settings (another seed, learning
  rate, batch size, schedule, preset, ...) is refused with a message naming each difference, since
  the resumed run would continue the old weights and optimizer state under the new settings.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from keras_ddpm.utils.io import write_text

LOCK_FILE = ".run.lock"
SETTINGS_FILE = "run_settings.json"


def prepare_out(out) -> str:
    """Create the output folder ``out`` (and its parents); one clear error if a file is in the way."""
    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"output folder {out} is an existing file, not a folder: choose another --out")
    try:
        os.makedirs(out, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"cannot create output folder {out}: a file stands in its path; "
                         "choose another --out") from None
    return out


class RunLock:
    """Hold ``OUT/.run.lock`` for as long as this process writes into ``OUT``.

    Usage::

        with RunLock(out):
            ...  # train and write into out

    Raises:
        ValueError: another live process holds the lock; the message names it (pid, host, start
            time, command).
    """

    def __init__(self, out):
        self.out = prepare_out(out)
        self.path = os.path.join(self.out, LOCK_FILE)
        self._fd = None

    def acquire(self) -> "RunLock":
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ValueError(
                f"output folder {self.out} is in use by another run ({holder}); wait for it to end or "
                "choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]) if sys.argv else "",
        }).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "process unknown"
    return (f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
            f"{info.get('command')}")


def check_settings(out, settings: dict, resuming: bool) -> None:
    """Record ``settings`` for a fresh run, or check that a resumed run uses the recorded ones.

    Args:
        out: the run's output folder.
        settings: JSON-serialisable values that shape training, keyed by the command-line flag
            that sets them (e.g. ``{"--seed": 0, "--lr": 1e-4}``).
        resuming: True when the run continues an unfinished one in ``out``.

    Raises:
        ValueError: resuming with settings that differ from the recorded ones; the message lists
            each flag with its recorded and its new value, and says how to start over.
    """
    path = os.path.join(os.fspath(out), SETTINGS_FILE)
    settings = json.loads(json.dumps(settings))  # compare as they are stored (tuples -> lists)
    if resuming:
        try:
            with open(path, encoding="utf-8") as handle:
                recorded = json.load(handle)
        except FileNotFoundError:
            recorded = None
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot resume: {path} is unreadable ({err}); pass --no-resume to "
                             "start over") from None
        if recorded is None:
            print(f"warning: {out} holds an unfinished run without a record of its settings "
                  f"({SETTINGS_FILE}); resuming it with the settings given now", file=sys.stderr)
        else:
            differences = [f"{key} {_show(recorded.get(key))} -> {_show(value)}"
                           for key, value in settings.items() if recorded.get(key) != value]
            differences += [f"{key} {_show(value)} -> (not set)"
                            for key, value in recorded.items() if key not in settings]
            if differences:
                raise ValueError(
                    f"cannot resume the unfinished run in {out} with other settings: "
                    f"{'; '.join(differences)}. Re-run with the recorded settings to resume, pass "
                    "--no-resume to start over, or choose another --out"
                )
    write_text(path, json.dumps(settings, indent=2, sort_keys=True))


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value
