"""Real mail servers for the mailbox tests: Debian's dovecot (IMAP) and aiosmtpd with AUTH.

Dovecot runs in the foreground (``dovecot -F``) from a configuration written in
a temporary folder, listening on 127.0.0.1 on a free port; its users live in a
passwd-file there and their maildirs under it. ``.ci/run`` installs
``dovecot-imapd`` when it is missing.
"""

from __future__ import annotations

import email
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def _mail_owner() -> tuple[int, int]:
    """Dovecot never serves mail as root: as root, the maildirs belong to ``nobody``."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
{users_line}
first_valid_uid = {uid}
first_valid_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox {sent} {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    """A private dovecot: ``add_user``, ``start``, read a folder, ``stop``."""

    def __init__(self, *, sent_folder: str = "Sent",
                 certificate: tuple[Path, Path] | None = None) -> None:
        # A short path: dovecot's unix sockets live under base_dir (108-byte limit).
        self.root = Path(tempfile.mkdtemp(prefix="mbdove"))
        self.port = free_port()
        self.sent_folder = sent_folder
        # With a certificate (cert, key), imaps on ``tls_port`` too.
        self.certificate = certificate
        self.tls_port = free_port() if certificate else 0
        self.uid, self.gid = _mail_owner()
        self._users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None

    def add_user(self, name: str, password: str) -> None:
        self._users[name] = password
        (self.root / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{secret}::::::\n" for user, secret in self._users.items())
        )

    def start(self) -> None:
        if not Path(DOVECOT).exists():
            raise RuntimeError(
                f"dovecot is not installed ({DOVECOT}): apt-get install dovecot-imapd "
                "(.ci/run installs it when missing)"
            )
        for folder in ("run", "state", "home"):
            (self.root / folder).mkdir(exist_ok=True)
        os.chown(self.root / "home", self.uid, self.gid)
        os.chmod(self.root, 0o755)
        running_as_root = os.getuid() == 0
        users_line = (
            "default_internal_user = dovecot\ndefault_login_user = dovenull"
            if running_as_root else
            f"default_internal_user = {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"default_login_user = {pwd.getpwuid(os.getuid()).pw_name}"
        )
        config = self.root / "dovecot.conf"
        config.write_text(_CONFIG.format(
            root=self.root, port=self.port, uid=self.uid, gid=self.gid,
            users_line=users_line, sent=self.sent_folder, tls_port=self.tls_port,
            ssl=(f"ssl = yes\nssl_cert = <{self.certificate[0]}\nssl_key = <{self.certificate[1]}"
                 if self.certificate else "ssl = no"),
        ))
        if not (self.root / "passwd").exists():
            (self.root / "passwd").write_text("")
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def messages(self, user: str, folder: str) -> list[tuple[EmailMessage, str]]:
        """The messages in ``folder`` of ``user``'s maildir, each with its maildir flags."""
        base = self.root / "home" / user / "Maildir"
        directory = base if folder == "INBOX" else base / f".{folder}"
        found: list[tuple[EmailMessage, str]] = []
        for sub in ("new", "cur"):
            for path in sorted((directory / sub).glob("*")) if (directory / sub).exists() else []:
                flags = path.name.split(":2,")[1] if ":2," in path.name else ""
                message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
                assert isinstance(message, EmailMessage)
                found.append((message, flags))
        return found

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class AuthedEnvelope:
    login: str
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class AuthSmtp:
    """aiosmtpd requiring AUTH before MAIL (plain text allowed: it listens on 127.0.0.1 only)."""

    accounts: dict[str, str] = field(default_factory=dict)
    envelopes: list[AuthedEnvelope] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    # Implicit TLS (smtps) with this server context.
    tls: ssl.SSLContext | None = None
    _controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.accounts.get(login) == auth_data.password.decode():
                session.mailbox_login = login
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        # AUTH is required here (aiosmtpd's own switch warns about plain text, which is
        # what a loopback relay is).
        if not getattr(session, "mailbox_login", None):
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = getattr(session, "mailbox_login", "")
        self.envelopes.append(AuthedEnvelope(
            login=login, mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
            content=envelope.original_content or envelope.content,
        ))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, authenticator=self._authenticate,
            auth_require_tls=False, ssl_context=self.tls,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
