"""Real directory, Kerberos and proxy servers for the identity tests, each on free loopback
ports with a folder of its own, started and stopped by the test that needs it.

- `running_slapd`: OpenLDAP's slapd with users, nested groups, a loop of groups, a posixGroup
  and the memberof overlay; a read-only service account for aiwall.
- `running_kdc`: an MIT KDC for the realm AIWALL.TEST, the service principal HTTP/localhost
  in a keytab, users with passwords, and `kinit` into a ticket cache of the test's own.
- `running_squid`: Debian's squid with a configuration the test writes (tests/identity/
  test_squid.py), run in the foreground.

Each needs its Debian package (scripts/system-deps installs them; `make test` runs it). A test
whose program is missing is skipped, saying which package to install.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

from ..proxy import free_port

BASE_DN = "dc=aiwall,dc=test"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
READER_DN = f"cn=aiwall,ou=services,{BASE_DN}"
READER_PASSWORD = "reader-secret"
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"
REALM = "AIWALL.TEST"
SERVICE = "HTTP/localhost"
START_TIMEOUT = 20.0

# uid → password. alice and bob are engineers; carol is in ai-users directly; dave only in a
# posixGroup and a loop of groups; erin in nothing.
USERS = {
    "alice": "alice-pw",
    "bob": "bob-pw",
    "carol": "carol-pw",
    "dave": "dave-pw",
    "erin": "erin-pw",
}


def require(program: str, package: str) -> str:
    """The program's path, or skip the test naming the package that brings it."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/lib/squid")
    if found is None:
        pytest.skip(f"{program} is not installed (Debian package {package}; scripts/system-deps)")
    return found


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"not listening on {port} after {START_TIMEOUT} s: {_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


# --- LDAP -----------------------------------------------------------------------------------


@dataclass
class Slapd:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def admin(self) -> ldap3.Connection:
        server = ldap3.Server(self.url, get_info=ldap3.NONE)
        return ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)

    def stop(self) -> None:
        stop(self.process)


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {folder}/slapd.pid
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {folder}/db
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""


@contextmanager
def running_slapd(folder: Path) -> Iterator[Slapd]:
    """slapd on a free port with the test directory loaded; reading needs a bind."""
    slapd = require("slapd", "slapd")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db").mkdir(exist_ok=True)
    conf = folder / "slapd.conf"
    conf.write_text(
        SLAPD_CONF.format(
            folder=folder, base=BASE_DN, admin=ADMIN_DN, admin_password=ADMIN_PASSWORD
        )
    )
    port = free_port()
    log = folder / "slapd.log"
    command = [slapd, "-d", "0", "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Slapd(port, folder, process)
    try:
        wait_for_port(port, process, log)
        _load_directory(server)
        yield server
    finally:
        server.stop()


def _load_directory(slapd: Slapd) -> None:
    connection = slapd.admin()
    add = connection.add
    add(BASE_DN, ["dcObject", "organization"], {"o": "aiwall test", "dc": "aiwall"})
    for unit in ("people", "groups", "services"):
        add(f"ou={unit},{BASE_DN}", ["organizationalUnit"], {"ou": unit})
    add(
        READER_DN,
        ["applicationProcess", "simpleSecurityObject"],
        {"cn": "aiwall", "userPassword": READER_PASSWORD},
    )
    for uid, password in USERS.items():
        add(
            user_dn(uid),
            ["inetOrgPerson"],
            {"uid": uid, "cn": uid.title(), "sn": uid.title(), "userPassword": password},
        )
    # engineering ⊂ ai-users (nested); loop-a ⊂ loop-b ⊂ loop-a (a cycle); contractors is a
    # posixGroup naming its members by uid.
    groups = {
        "engineering": [user_dn("alice"), user_dn("bob")],
        "ai-users": [group_dn("engineering"), user_dn("carol")],
        "loop-a": [user_dn("dave")],
        "loop-b": [group_dn("loop-a")],
    }
    for name, members in groups.items():
        add(group_dn(name), ["groupOfNames"], {"cn": name, "member": members})
    connection.modify(group_dn("loop-a"), {"member": [(ldap3.MODIFY_ADD, [group_dn("loop-b")])]})
    add(
        group_dn("contractors"),
        ["posixGroup"],
        {"cn": "contractors", "gidNumber": "5000", "memberUid": ["dave"]},
    )
    failed = connection.result if connection.result["result"] != 0 else None
    connection.unbind()
    if failed:
        raise RuntimeError(f"loading the test directory failed: {failed}")


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


# --- Kerberos -------------------------------------------------------------------------------


@dataclass
class Kdc:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    keytab: Path  # HTTP/localhost@AIWALL.TEST, for aiwall

    @property
    def env(self) -> dict[str, str]:
        """The environment of a program that uses this realm: its krb5.conf, nothing else."""
        return {
            **os.environ,
            "KRB5_CONFIG": str(self.folder / "krb5.conf"),
            "KRB5_KDC_PROFILE": str(self.folder / "kdc.conf"),
            "KRB5RCACHEDIR": str(self.folder),
            "KRB5_TRACE": str(self.folder / "trace.log"),
        }

    def kinit(self, user: str, cache: Path) -> dict[str, str]:
        """Log `user` in with the password (as a person would); the environment to use it."""
        env = {**self.env, "KRB5CCNAME": f"FILE:{cache}"}
        subprocess.run(
            [require("kinit", "krb5-user"), f"{user}@{REALM}"],
            input=f"{USERS[user]}\n".encode(),
            env=env,
            check=True,
            capture_output=True,
            timeout=20,
        )
        return env

    def admin(self, query: str) -> None:
        kadmin = require("kadmin.local", "krb5-admin-server")
        subprocess.run(
            [kadmin, "-r", REALM, "-q", query],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=20,
        )


KRB5_CONF = """\
[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    localhost = {realm}
"""

KDC_CONF = """\
[kdcdefaults]
    kdc_ports = {udp_port}
    kdc_tcp_ports = {port}
[realms]
    {realm} = {{
        database_name = {folder}/principal
        key_stash_file = {folder}/stash
        acl_file = {folder}/kadm5.acl
        kdc_ports = {udp_port}
        kdc_tcp_ports = {port}
        max_life = 1h
    }}
[logging]
    kdc = FILE:{folder}/kdc.log
"""


@contextmanager
def running_kdc(folder: Path) -> Iterator[Kdc]:
    """An MIT KDC for AIWALL.TEST on loopback with every user of USERS and HTTP/localhost."""
    krb5kdc = require("krb5kdc", "krb5-kdc")
    kdb5_util = require("kdb5_util", "krb5-kdc")
    folder.mkdir(parents=True, exist_ok=True)
    port, udp_port = free_port(), free_port()
    values = {"realm": REALM, "port": port, "udp_port": udp_port, "folder": folder}
    (folder / "krb5.conf").write_text(KRB5_CONF.format(**values))
    (folder / "kdc.conf").write_text(KDC_CONF.format(**values))
    (folder / "kadm5.acl").write_text("")
    keytab = folder / "http.keytab"
    log = folder / "krb5kdc.log"
    kdc = Kdc(port, folder, subprocess.Popen(["true"]), keytab)
    subprocess.run(
        [kdb5_util, "create", "-s", "-r", REALM, "-P", "master-secret"],
        env=kdc.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    for user, password in USERS.items():
        kdc.admin(f"addprinc -pw {password} {user}")
    kdc.admin(f"addprinc -randkey {SERVICE}")
    kdc.admin(f"ktadd -k {keytab} {SERVICE}")
    with log.open("wb") as out:
        kdc.process = subprocess.Popen(
            [krb5kdc, "-n", "-P", str(folder / "krb5kdc.pid")],
            env=kdc.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, kdc.process, log)
        yield kdc
    finally:
        stop(kdc.process)


# --- Squid ----------------------------------------------------------------------------------


@dataclass
class Squid:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> str:
        path = self.folder / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logged(self, text: str, *also: str, wait: float = 5.0) -> bool:
        """Whether a line of the access log shows `text` (and each of `also`), waiting for
        squid to write it."""
        deadline = time.monotonic() + wait
        while True:
            for line in self.access_log().splitlines():
                if text in line and all(part in line for part in also):
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


SQUID_BASE = """\
http_port 127.0.0.1:{port}
pid_filename {folder}/squid.pid
cache_log {folder}/cache.log
access_log stdio:{folder}/access.log squid
cache deny all
cache_mem 8 MB
coredump_dir {folder}
dns_nameservers 127.0.0.1
hosts_file {folder}/hosts
shutdown_lifetime 0 seconds
netdb_filename none
auth_param basic program {helper} {folder}/passwd
auth_param basic realm corp
acl authenticated proxy_auth REQUIRED
"""


@contextmanager
def running_squid(
    config: str, passwords: dict[str, str], hosts: str = "", files: dict[str, str] | None = None
) -> Iterator[Squid]:
    """squid -N with SQUID_BASE plus `config` (formatted with {port} and {folder}), Basic
    users from `passwords`, `hosts` as its hosts file (name resolution without DNS), and
    `files` (name → text) in its folder."""
    squid = require("squid", "squid")
    helper = require("basic_ncsa_auth", "squid")
    # Started as root, squid runs as the user `proxy`: its folder must be that user's, so it
    # lives outside pytest's folders, which only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="aiwall-squid-"))
    port = free_port()
    try:
        lines = [f"{user}:{_apr1(password)}" for user, password in passwords.items()]
        (folder / "passwd").write_text("\n".join(lines) + "\n")
        (folder / "hosts").write_text(hosts or "127.0.0.1 localhost\n")
        for name, text in (files or {}).items():
            (folder / name).write_text(text)
        values = {"port": port, "folder": folder, "helper": helper}
        conf = folder / "squid.conf"
        conf.write_text(SQUID_BASE.format(**values) + config.format(**values))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("proxy")
            for path in [folder, *folder.iterdir()]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        parsed = subprocess.run(
            [squid, "-k", "parse", "-f", str(conf)], capture_output=True, timeout=30
        )
        if parsed.returncode != 0:
            raise RuntimeError(f"squid -k parse: {parsed.stderr.decode(errors='replace')}")
        log = folder / "squid.out"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [squid, "-N", "-f", str(conf)], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(port, process, log)
            yield Squid(port, folder, process)
        finally:
            stop(process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _apr1(password: str) -> str:
    """An Apache MD5 hash, which squid's basic_ncsa_auth reads (Python has no crypt now)."""
    return subprocess.run(
        ["openssl", "passwd", "-apr1", password],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.strip()


# --- Clients --------------------------------------------------------------------------------


def curl(
    proxy: str, url: str, *args: str, ca: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """curl through `proxy`: the status, the body and the verbose trace (headers exchanged)."""
    command = ["curl", "-sS", "-v", "--max-time", "15", "-x", proxy]
    if ca is not None:
        command += ["--cacert", str(ca)]
    command += [*args, "-w", "\n%{http_code} %{http_connect}", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    body, _, codes = result.stdout.rpartition("\n")
    answered, connect = (int(code) for code in codes.split())
    # A refused CONNECT (407, 403) is no response to the request: curl reports it apart.
    return answered or connect, body, result.stderr
