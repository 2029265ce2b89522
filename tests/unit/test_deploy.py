"""The deployment files of ``deploy/``: the nginx site run in a real nginx (only the webhooks
get through, POST only, bodies of 1 MB at most, nothing private in the access log), the
systemd units, the production ``.env`` template and the backup script."""

from __future__ import annotations

import http.client
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.standins import LoopbackServer, Request, Response

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "sante.conf"
UNITS = DEPLOY / "systemd"
HOST = "sante.example.org"  # the site's server_name, as written in the file
WEBHOOKS = ("/webhooks/sms/webhook", "/webhooks/sms/status", "/webhooks/telegram/webhook")
PYTHON = "/srv/sante/.venv/bin/python"


def _nginx() -> str | None:
    """Debian's nginx is in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unverified() -> ssl.SSLContext:
    """TLS without checking the certificate: the test's is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Upstream(LoopbackServer):
    """A Rasa instance's place: records each request it gets, answers 200."""

    name = "upstream"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Request] = []

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.received.append(request)
        return Response(200, b"ok", content_type="text/plain")

    @property
    def listening_port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


@dataclass
class Site:
    """nginx running deploy/nginx/sante.conf on free loopback ports, before two upstreams."""

    http_port: int
    https_port: int
    upstreams: tuple[Upstream, Upstream]
    root: Path
    dashboard: Upstream  # the staff dashboard's place (/staff/)

    @property
    def received(self) -> list[Request]:
        return [r for upstream in self.upstreams for r in upstream.received]

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        tls: bool = True,
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        """One request with ``Host: sante.example.org``; status, response, body."""
        connection: http.client.HTTPConnection
        if tls:
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, timeout=10, context=unverified()
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            connection.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
            response = connection.getresponse()
            return response.status, response, response.read()
        finally:
            connection.close()

    def access_log(self) -> str:
        return (self.root / "logs" / "sante.access.log").read_text(encoding="utf-8")


def render_site(conf: str, site: Site, cert: Path, key: Path) -> str:
    """The operator's file with this test's ports, certificate and paths, by replacing the
    exact strings it contains (a changed string fails here, rather than testing another
    configuration)."""
    first, second = (upstream.listening_port for upstream in site.upstreams)
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{site.http_port};",
        "    listen [::]:80;\n": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{site.https_port} ssl http2;",
        "    listen [::]:443 ssl http2;\n": "",
        f"/etc/letsencrypt/live/{HOST}/fullchain.pem": str(cert),
        f"/etc/letsencrypt/live/{HOST}/privkey.pem": str(key),
        "server 127.0.0.1:5005 ": f"server 127.0.0.1:{first} ",
        "server 127.0.0.1:5006 ": f"server 127.0.0.1:{second} ",
        "server 127.0.0.1:5090 ": f"server 127.0.0.1:{site.dashboard.listening_port} ",
        "/var/log/nginx/": f"{site.root / 'logs'}/",
        "root /var/www/html;": f"root {site.root / 'www'};",
    }
    for old, new in replacements.items():
        assert old in conf, f"{SITE.name} no longer contains {old!r}: update this test"
        conf = conf.replace(old, new)
    return conf


def main_conf(root: Path) -> str:
    """A minimal nginx.conf around the site: every path in ``root``."""
    user = pwd.getpwuid(os.geteuid()).pw_name  # workers read the private temporary dir
    temps = "\n".join(
        f"    {kind}_temp_path {root / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
{"user " + user + ";" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "logs" / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    default_type application/octet-stream;
    access_log {root / "logs" / "default.access.log"};
{temps}
    include {root / "sante.conf"};
}}
"""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for sante.example.org, in place of Let's Encrypt's."""
    if _nginx() is None:
        pytest.skip("nginx is not installed: .ci/run installs Debian's nginx")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed for a test certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture()
def site(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[Site]:
    nginx = _nginx()
    assert nginx is not None
    for folder in ("logs", "temp", "www/.well-known/acme-challenge"):
        (tmp_path / folder).mkdir(parents=True)
    with Upstream() as first, Upstream() as second, Upstream() as dashboard:
        running = Site(_free_port(), _free_port(), (first, second), tmp_path, dashboard)
        (tmp_path / "sante.conf").write_text(
            render_site(SITE.read_text(encoding="utf-8"), running, *certificate)
        )
        (tmp_path / "nginx.conf").write_text(main_conf(tmp_path))
        command = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        process = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            _wait_listening(process, (running.http_port, running.https_port))
            yield running
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _wait_listening(process: subprocess.Popen[bytes], ports: tuple[int, ...]) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"nginx exited with {process.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx does not listen on {port}")
                time.sleep(0.05)


# -- nginx ---------------------------------------------------------------------------------


def test_a_webhook_reaches_an_instance_with_the_public_address(site: Site) -> None:
    """Twilio's signed URL can be rebuilt (TRUST_PROXY=true): https, the host, the query."""
    body = b"From=%2B22370000001&Body=bonjour"
    status, response, _ = site.request(
        "POST", "/webhooks/sms/webhook?probe=1", body,
        {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "6.6.6.6",
         "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"},
    )  # fmt: skip
    assert status == 200
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")
    [request] = site.received
    assert (request.method, request.path, request.query) == (
        "POST", "/webhooks/sms/webhook", {"probe": "1"}
    )  # fmt: skip
    assert request.body == body
    headers = request.headers
    assert headers["Host"] == HOST and headers["X-Forwarded-Host"] == HOST
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-For"] == "127.0.0.1"  # the client's own header is replaced


def test_each_webhook_is_proxied_and_the_instances_share_the_load(site: Site) -> None:
    for path in WEBHOOKS * 2:
        status, _, _ = site.request("POST", path, b"{}", {"Content-Type": "application/json"})
        assert status == 200, path
    assert sorted(r.path for r in site.received) == sorted(WEBHOOKS * 2)
    assert all(upstream.received for upstream in site.upstreams)


def test_a_webhook_path_is_passed_as_nginx_understood_it(site: Site) -> None:
    """A path only nginx would resolve to a webhook reaches Rasa as the plain path."""
    for path in ("/model/parse/../../webhooks/sms/webhook", "/webhooks/sms/%77ebhook"):
        assert site.request("POST", path, b"x=1")[0] == 200
    assert [r.path for r in site.received] == ["/webhooks/sms/webhook"] * 2


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/model/parse", 404),
        ("POST", "/model/parse", 404),
        ("PUT", "/model", 404),
        ("GET", "/conversations/x/tracker", 404),
        ("POST", "/conversations/x/tracker/events", 404),
        ("GET", "/status", 404),
        ("GET", "/version", 404),
        ("GET", "/metrics", 404),
        ("GET", "/health/ready", 404),
        ("GET", "/health/live", 404),
        ("GET", "/", 404),
        ("GET", "/webhooks/rest/webhook", 404),
        ("POST", "/webhooks/rest/webhook", 404),
        ("POST", "/webhooks/local/webhook", 404),
        ("POST", "/webhooks/sms/webhook/", 404),
        ("POST", "/webhooks/telegram/webhook/../../../model/parse", 404),
        ("GET", "/webhooks/sms/webhook", 405),
        ("GET", "/webhooks/telegram/webhook", 405),
        ("HEAD", "/webhooks/sms/status", 405),
    ],
)
def test_everything_else_stays_inside(site: Site, method: str, path: str, status: int) -> None:
    body = b'{"text": "hello"}' if method in ("POST", "PUT") else None
    assert site.request(method, path, body)[0] == status
    assert site.received == []


def test_the_staff_dashboard_is_reached_under_staff_and_only_there(site: Site) -> None:
    """Staff's browsers reach the dashboard (which signs them in itself), never an instance."""
    for method, path in (("GET", "/staff/reach?from=2026-01-05"), ("POST", "/staff/login"),
                         ("GET", "/staff/static/dashboard.css")):  # fmt: skip
        status, _, _ = site.request(method, path, b"csrf=x" if method == "POST" else None)
        assert status == 200, path
    paths = [r.path for r in site.dashboard.received]
    assert paths == ["/staff/reach", "/staff/login", "/staff/static/dashboard.css"]
    assert site.dashboard.received[0].query == {"from": "2026-01-05"}  # the filters reach it
    assert site.dashboard.received[0].headers["X-Forwarded-Proto"] == "https"
    status, answer, _ = site.request("GET", "/staff")
    assert status == 301 and answer.headers["Location"] == f"https://{HOST}/staff/"
    assert site.request("GET", "/staff/reach", tls=False)[0] == 301  # plain HTTP: redirected
    assert site.received == []  # no instance saw any of it


def test_a_body_over_1_mb_is_refused_before_any_instance(site: Site) -> None:
    big = b"Body=" + b"x" * (3 * 1024 * 1024)
    assert site.request("POST", "/webhooks/sms/webhook", big)[0] == 413

    def chunks() -> Iterator[bytes]:  # the same without a Content-Length
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    connection = http.client.HTTPSConnection(
        "127.0.0.1", site.https_port, timeout=10, context=unverified()
    )
    try:
        connection.request("POST", "/webhooks/telegram/webhook", body=chunks(),
                           headers={"Host": HOST}, encode_chunked=True)  # fmt: skip
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert site.request("POST", "/webhooks/sms/webhook", b"x" * 900_000)[0] == 200
    assert [len(r.body) for r in site.received] == [900_000]


def test_the_access_log_holds_no_query_string_and_no_body(site: Site) -> None:
    site.request("POST", "/webhooks/sms/webhook?From=%2B22370000001", b"Body=secret+words")
    site.request("GET", "/model/parse?q=22370000002")
    log = site.access_log()
    assert '"POST /webhooks/sms/webhook HTTP/1.1" 200' in log
    assert '"GET /model/parse HTTP/1.1" 404' in log
    assert "2237000000" not in log and "secret" not in log and "?" not in log


def test_an_instance_down_is_skipped(site: Site) -> None:
    """A rolling restart: while one instance is stopped, the other takes every webhook."""
    down, up = site.upstreams
    down.stop()
    for _ in range(4):
        assert site.request("POST", "/webhooks/sms/webhook", b"x=1")[0] == 200
    assert len(up.received) == 4


def test_plain_http_redirects_to_https_but_serves_certbot(site: Site) -> None:
    status, response, _ = site.request("GET", "/webhooks/sms/webhook?a=1", tls=False)
    assert status == 301
    assert response.getheader("Location") == f"https://{HOST}/webhooks/sms/webhook?a=1"
    token = site.root / "www" / ".well-known" / "acme-challenge" / "t0ken"
    token.write_text("t0ken.thumbprint")
    status, _, body = site.request("GET", "/.well-known/acme-challenge/t0ken", tls=False)
    assert (status, body) == (200, b"t0ken.thumbprint")
    assert site.received == []


def test_tls_is_1_2_or_newer(site: Site) -> None:
    context = unverified()
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=HOST) as tls:  # fmt: skip
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    context = unverified()
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=HOST) as tls:  # fmt: skip
        assert tls.version() == "TLSv1.2"


# -- systemd -------------------------------------------------------------------------------


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with every value it is given (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def words(values: list[str]) -> list[str]:
    return [word for value in values for word in value.split()]


@pytest.mark.parametrize(
    ("name", "process"),
    [("sante-actions.service", "actions"), ("sante-rasa@.service", "rasa --instance %i"),
     ("sante-dashboard.service", "dashboard")],
)
def test_each_unit_runs_one_serve_process(name: str, process: str) -> None:
    service = unit(name)["Service"]
    assert service["ExecStart"] == [f"{PYTHON} -m bot serve --process {process}"]
    assert service["EnvironmentFile"] == ["/srv/sante/.env"]
    assert service["WorkingDirectory"] == ["/srv/sante"]
    assert service["User"] == ["sante"]
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert re.fullmatch(r"\d+s", service["TimeoutStopSec"][0])
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/srv/sante/var"]
    for flag in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[flag] == ["yes"], flag
    assert re.fullmatch(r"\d+[MG]", service["MemoryMax"][0])
    assert unit(name)["Install"]["WantedBy"] == ["sante.target"]
    home = next(v for v in words(service["Environment"]) if v.startswith("HOME="))
    assert home.startswith("HOME=/srv/sante/var/")  # writable under ProtectSystem=strict


def test_rasa_instances_start_after_their_stores_and_the_action_server() -> None:
    rasa = unit("sante-rasa@.service")
    needed = {"postgresql.service", "redis-server.service", "sante-actions.service"}
    assert needed <= set(words(rasa["Unit"]["After"]))
    assert needed <= set(words(rasa["Unit"]["Wants"]))
    assert int(rasa["Service"]["MemoryMax"][0].rstrip("M")) >= 1200  # 1.1 GB measured


def test_the_backup_timer_runs_the_script() -> None:
    service = unit("sante-backup.service")["Service"]
    assert service["ExecStart"][0].split()[0] == "/srv/sante/deploy/backup.sh"
    assert unit("sante-backup.timer")["Timer"]["Persistent"] == ["true"]
    assert os.access(DEPLOY / "backup.sh", os.X_OK)


# -- the production settings ---------------------------------------------------------------


def settings_names(path: Path) -> dict[str, str]:
    return dict(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", path.read_text(encoding="utf-8"), re.M)
    )


def test_the_production_template_holds_no_secret() -> None:
    production = settings_names(DEPLOY / "env.production.example")
    for secret in ("PSEUDONYM_KEY", "PSEUDONYM_KEYS_PREVIOUS", "DATA_KEYS", "TWILIO_AUTH_TOKEN",
                   "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "RASA_API_TOKEN"):  # fmt: skip
        assert production[secret] == "", secret
    assert production["PUBLIC_URL"].startswith("https://")
    assert "DB_PASSWORD" in production["DATABASE_URL"]


def test_nginx_lists_the_instances_of_the_production_template() -> None:
    production = settings_names(DEPLOY / "env.production.example")
    first, count = int(production["RASA_PORT"]), int(production["INSTANCES"])
    upstream = re.search(r"upstream sante_rasa \{(.*?)\}", SITE.read_text(), re.S)
    assert upstream is not None
    servers = re.findall(r"^\s*server 127\.0\.0\.1:(\d+)", upstream.group(1), re.M)
    assert [int(port) for port in servers] == [first + i for i in range(count)]


def test_every_production_setting_is_documented_in_env_example() -> None:
    documented = settings_names(PROJECT_ROOT / ".env.example")
    production = settings_names(DEPLOY / "env.production.example")
    assert sorted(set(production) - set(documented)) == []


# -- scripts -------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["deploy/backup.sh", ".ci/run"])
def test_scripts_parse_and_pass_shellcheck(script: str) -> None:
    path = PROJECT_ROOT / script
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    if shutil.which("shellcheck") is None:
        return  # the syntax is checked; shellcheck is optional
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
