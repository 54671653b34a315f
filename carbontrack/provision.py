"""`carbontrack provision-node DEVICE`: per-node MQTT credentials for Mosquitto (issue 18, deployment kit).

Writes (or replaces) the node's entry in a Mosquitto password file, in the format
`mosquitto_passwd` writes for Mosquitto 2.0 (`user:$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`),
and the node's block in an ACL file: it may publish only its own telemetry, status and command
results, and read only its own ack and command topics. Prints the node's settings, with the
password, once. Mosquitto reads both files again on SIGHUP (`systemctl reload mosquitto`).

`--service NAME` makes the account of a server process instead (listener, fleet-ops): it reads every
node's telemetry and status (also through the shared subscription) and writes acks and commands.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

# Mosquitto 2.0's mosquitto_passwd: PBKDF2-SHA512 with 101 iterations and a 12-byte salt
# (src/password_mosq.c: PW_DEFAULT_ITERATIONS 101, SALT_LEN 12).
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
DEFAULT_PASSWORD_FILE = Path("/etc/mosquitto/carbontrack.passwd")
DEFAULT_ACL_FILE = Path("/etc/mosquitto/carbontrack.acl")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProvisionError(ValueError):
    """The device or account cannot be provisioned as asked; the message says why."""


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """The password-file hash Mosquitto 2.0 checks: `$7$<iterations>$<salt b64>$<hash b64>`."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_mosquitto_hash(password: str, stored: str) -> bool:
    """Whether `password` matches a `$7$` line hash (for tests and `--check`)."""
    try:
        _, seven, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if seven != "7":
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    return secrets.compare_digest(base64.b64encode(got).decode(), digest)


@dataclass(frozen=True)
class NodeTopics:
    """The topics of one node (docs/payload.md)."""

    base: str  # <prefix>/<factory>/<device>

    @property
    def publish(self) -> list[str]:
        return [f"{self.base}/telemetry", f"{self.base}/status", f"{self.base}/cal", f"{self.base}/cmd/result"]

    @property
    def subscribe(self) -> list[str]:
        return [f"{self.base}/ack", f"{self.base}/cmd"]


def node_acl(username: str, topics: NodeTopics) -> str:
    """The ACL block of one node: write its own topics, read its ack and commands."""
    lines = [f"user {username}"]
    lines += [f"topic write {t}" for t in topics.publish]
    lines += [f"topic read {t}" for t in topics.subscribe]
    return "\n".join(lines)


def service_acl(username: str, prefix: str) -> str:
    """The ACL block of a server process: read all telemetry/status, write acks and commands."""
    return "\n".join([
        f"user {username}",
        f"topic read {prefix}/+/+/telemetry",
        f"topic read {prefix}/+/+/status",
        f"topic read {prefix}/+/+/cal",
        f"topic read {prefix}/+/+/cmd/result",
        f"topic read $share/carbontrack/{prefix}/+/+/telemetry",  # the listeners' shared subscription
        f"topic read $share/carbontrack/{prefix}/+/+/status",
        f"topic read $share/carbontrack/{prefix}/+/+/cal",
        f"topic readwrite {prefix}/+/+/ack",
        f"topic write {prefix}/+/+/cmd",
    ])


def _replace_line(path: Path, username: str, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text().splitlines() if path.exists() else []
    kept = [x for x in old if x.split(":", 1)[0] != username]
    _write(path, "\n".join([*kept, line]) + "\n")


def _replace_block(path: Path, username: str, block: str) -> None:
    """Put `block` between `# begin <user>` / `# end <user>` markers, replacing an earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "# Carbon Track MQTT ACL (carbontrack provision-node)\n"
    marked = f"# begin {username}\n{block}\n# end {username}\n"
    pattern = re.compile(rf"^# begin {re.escape(username)}\n.*?^# end {re.escape(username)}\n", re.M | re.S)
    text = pattern.sub(lambda _m: marked, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + marked
    _write(path, text)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o640)  # Mosquitto warns about (2.1: refuses) world-readable password files
    if os.geteuid() == 0:  # root: let the broker (which drops to the mosquitto user) read it
        import grp

        with contextlib.suppress(KeyError):
            os.chown(tmp, 0, grp.getgrnam("mosquitto").gr_gid)
    os.replace(tmp, path)


def provision(username: str, acl_block: str, password_file: Path, acl_file: Path,
              password: str | None = None) -> str:
    """Write the account's password line and ACL block; return the (new) password."""
    if not _NAME.match(username):
        raise ProvisionError(f"{username!r} is not a usable MQTT username (letters, digits, _ . -)")
    password = password or secrets.token_urlsafe(24)
    _replace_line(password_file, username, f"{username}:{mosquitto_hash(password)}")
    _replace_block(acl_file, username, acl_block)
    return password
