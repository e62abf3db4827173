#!/usr/bin/python3
"""Wait until an etcd member reports healthy, failing fast if it has exited."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pyh_etcd_health
short_description: Wait until an etcd member is healthy, or say why it is not
description:
  - Polls the member's C(/health) endpoint until it answers C({"health":"true"})
    (I(wait_for=healthy)), or only until it accepts connections (I(wait_for=listening)).
  - Checks the member's pid on every poll, so a member that exits during
    start-up fails at once, quoting the line of its log that says why.
options:
  url: {description: The member's client URL., type: str, required: true}
  name: {description: The member's name, for messages., type: str, required: true}
  pid_file: {description: The member's pid file., type: path, required: true}
  log_file: {description: The member's log file., type: path, required: true}
  timeout: {description: Seconds to wait., type: int, default: 60}
  wait_for:
    description:
      - C(healthy) waits for a healthy answer, which needs a leader and so a
        quorum the member can reach. C(listening) waits only until the member
        accepts connections on its client port: a member restarted inside a
        partition listens, but answers no request, not even C(/version),
        until it has reached a quorum.
    type: str
    choices: [healthy, listening]
    default: healthy
  tail_lines: {description: Log lines to quote., type: int, default: 25}
  ca_file: {description: CA that signed the member's certificate (https URLs)., type: path}
  cert_file: {description: Client certificate, when the member requires one., type: path}
  key_file: {description: Key of I(cert_file)., type: path}
author: pyharness
"""

import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible.module_utils.basic import AnsibleModule

# Lines in etcd's log that say why it stopped, most specific first.
_CAUSES = [re.compile(p, re.I) for p in (
    r"flag provided but not defined|invalid value|unknown flag",
    r"\b[CF] \| |\"level\":\"(fatal|panic)\"|panic:",
    r"\bE \| |\"level\":\"error\"|error",
)]


def _alive(pid_file: str) -> bool:
    try:
        with open(pid_file) as fh:
            pid = int(fh.read().strip())
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state != "Z"


def _tail(log_file: str, n: int) -> list[str]:
    try:
        with open(log_file, errors="replace") as fh:
            return [line.rstrip("\n") for line in fh.readlines()[-n:]]
    except OSError:
        return []


def _cause(lines: list[str]) -> str | None:
    for pattern in _CAUSES:
        for line in lines:
            if pattern.search(line):
                return line.strip()
    return None


def _tls_context(ca_file: str | None, cert_file: str | None,
                 key_file: str | None) -> ssl.SSLContext | None:
    """Verifies the member against ca_file; presents cert_file when given,
    since with --client-cert-auth etcd refuses the handshake without one."""
    if not (ca_file or cert_file):
        return None
    ctx = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _get_json(url: str, ctx: ssl.SSLContext | None) -> tuple[dict | None, str]:
    """The JSON object at ``url`` (error statuses included), and the raw answer."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            body = r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:  # /health says 503 {"health":"false"}
        body = e.read().decode(errors="replace")
    except OSError as e:
        return None, str(getattr(e, "reason", e))
    try:
        doc = json.loads(body)
    except ValueError:
        return None, body.strip()[:200]
    return (doc if isinstance(doc, dict) else None), body.strip()[:200]


def _ready(url: str, wait_for: str, ctx: ssl.SSLContext | None) -> tuple[bool, str]:
    if wait_for == "listening":
        u = urllib.parse.urlsplit(url)
        try:
            with socket.create_connection((u.hostname, u.port or 2379), timeout=2):
                return True, "listening"
        except OSError as e:
            return False, str(e)
    doc, answer = _get_json(url + "/health", ctx)
    return doc is not None and str(doc.get("health")).lower() == "true", answer


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "name": {"type": "str", "required": True},
        "pid_file": {"type": "path", "required": True},
        "log_file": {"type": "path", "required": True},
        "timeout": {"type": "int", "default": 60},
        "tail_lines": {"type": "int", "default": 25},
        "wait_for": {"type": "str", "default": "healthy", "choices": ["healthy", "listening"]},
        "ca_file": {"type": "path"},
        "cert_file": {"type": "path"},
        "key_file": {"type": "path"},
    }, supports_check_mode=True)
    p = module.params
    try:
        ctx = _tls_context(p["ca_file"], p["cert_file"], p["key_file"])
    except (OSError, ssl.SSLError) as e:
        module.fail_json(msg=f"etcd member {p['name']}: cannot load its TLS files: {e}")
    deadline = time.monotonic() + p["timeout"]
    answer = "none"
    while True:
        if not _alive(p["pid_file"]):
            tail = _tail(p["log_file"], 200)
            cause = _cause(tail) or "no reason in its log"
            module.fail_json(
                msg=f"etcd member {p['name']} exited during start-up: {cause} "
                    f"(log: {p['log_file']})",
                log_tail=tail[-p["tail_lines"]:])
        ready, answer = _ready(p["url"], p["wait_for"], ctx)
        if ready:
            module.exit_json(changed=False, answer=answer)
        if time.monotonic() > deadline:
            tail = _tail(p["log_file"], p["tail_lines"])
            what = "not healthy" if p["wait_for"] == "healthy" else "not listening"
            module.fail_json(
                msg=f"etcd member {p['name']} ({p['url']}) {what} after {p['timeout']} s: "
                    f"last answer: {answer}; last log line: "
                    f"{tail[-1].strip() if tail else '(empty log)'}",
                log_tail=tail)
        time.sleep(0.3)


if __name__ == "__main__":
    main()
