"""Linux servers (Ubuntu 22.04, rsyslog to a central auth.log) and the Internet's background
noise against public-facing hosts.

auth.log lines follow what sshd, PAM, sudo, cron and systemd-logind write on Ubuntu 22.04.
Internet noise: SSH password guessing against the bastion, scanners probing the DMZ - the
reconnaissance-looking traffic every exposed organisation receives all day long.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from aptwatch.simulate import catalog
from aptwatch.simulate.org import Host, User
from aptwatch.simulate.rand import Rng
from aptwatch.simulate.world import Activity, LinuxState, World

Add = Callable[[float, Activity], None]

INVALID_USERS = ("admin", "test", "user", "oracle", "postgres", "ubuntu", "git", "guest", "support", "ftpuser",
                 "deploy", "pi", "jenkins", "hadoop", "minecraft", "tomcat", "www", "backup", "ansible", "dev")
SCAN_PATHS = ("/.env", "/wp-login.php", "/admin/", "/.git/config", "/phpmyadmin/", "/cgi-bin/luci",
              "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/owa/auth/logon.aspx", "/actuator/health",
              "/.aws/credentials", "/server-status", "/solr/admin/info/system", "/boaform/admin/formLogin",
              "/HNAP1/", "/remote/login", "/api/v1/pods", "/_ignition/execute-solution", "/console/")
SCANNER_UAS = ("Mozilla/5.0 zgrab/0.x", "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
               "Go-http-client/1.1", "python-requests/2.31.0", "curl/7.88.1", "Mozilla/5.0 (Windows NT 10.0; Win64; "
               "x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36", "masscan/1.3")


def ssh_session(w: World, rng: Rng, t: float, host: Host, user: str, uid: int, src_ip: str, method: str,
                commands: tuple[str, ...], duration: float, key_fp: str) -> float:
    """An SSH login with optional sudo commands, as sshd/PAM/logind/sudo log it. Returns end time."""
    lst = w.lin[host.idx]
    pid = lst.new_pid(rng)
    sport = rng.randint(32768, 60999)
    lst.session += 1
    sess = lst.session
    sink = w.sink
    auth = f"Accepted publickey for {user} from {src_ip} port {sport} ssh2: ED25519 SHA256:{key_fp}" \
        if method == "publickey" else f"Accepted password for {user} from {src_ip} port {sport} ssh2"
    sink.syslog(t, host, "sshd", pid, auth)
    sink.syslog(t + 0.01, host, "sshd", pid,
                f"pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)")
    sink.syslog(t + 0.02, host, "systemd-logind", 612, f"New session {sess} of user {user}.")
    tt = t + rng.uniform(2, 20)
    for c in commands:
        sink.syslog(tt, host, "sudo", None, f"{user:>8} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={c}")
        sink.syslog(tt + 0.001, host, "sudo", None,
                    f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})")
        sink.syslog(tt + rng.uniform(0.5, 30), host, "sudo", None, "pam_unix(sudo:session): session closed for user "
                    "root")
        tt += rng.uniform(10, 120)
    end = max(t + duration, tt + 1)
    sink.syslog(end, host, "sshd", pid, f"Received disconnect from {src_ip} port {sport}:11: disconnected by user")
    sink.syslog(end + 0.001, host, "sshd", pid, f"Disconnected from user {user} {src_ip} port {sport}")
    sink.syslog(end + 0.002, host, "sshd", pid, f"pam_unix(sshd:session): session closed for user {user}")
    sink.syslog(end + 0.01, host, "systemd-logind", 612, f"Session {sess} logged out. Waiting for processes to exit.")
    sink.syslog(end + 0.02, host, "systemd-logind", 612, f"Removed session {sess}.")
    w.net.conn(sink, t - 0.2, rng, src_ip, host.ip, 22, service="ssh", duration=end - t + 0.2,
               ob=rng.randint(3000, 60_000), rb=rng.randint(4000, 300_000), sport=sport, host=host.key)
    return end


def cron(host: Host, job: str) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        pid = w.lin[host.idx].new_pid(rng)
        w.sink.syslog(t, host, "CRON", pid, "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
        w.sink.syslog(t + 0.001, host, "CRON", pid, f"(root) CMD ({job})")
        w.sink.syslog(t + rng.uniform(0.05, 3), host, "CRON", pid, "pam_unix(cron:session): session closed for user "
                      "root")
    return run


def ansible_run(host: Host, source: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        cmds = tuple(rng.sample(("/bin/sh -c echo BECOME-SUCCESS-" + rng.hexstr(16) + " ; /usr/bin/python3",
                                 "/usr/bin/apt-get update", "/usr/bin/systemctl restart nginx",
                                 "/usr/bin/systemctl status rsyslog"), rng.randint(1, 3)))
        ssh_session(w, rng, t, host, "ansible", 1001, source.ip, "publickey", cmds, rng.uniform(5, 60),
                    "u3B1Hc0kq2N9Xy8vHqRr5bJ0mZt7pQe4WfLsK6dYhAo")
    return run


def admin_ssh(host: Host, admin_ws: Host, user: User) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        cmds = tuple(rng.sample(("/usr/bin/journalctl -u nginx --since today", "/usr/bin/apt list --upgradable",
                                 "/usr/bin/docker ps", "/usr/bin/tail -n 200 /var/log/syslog",
                                 "/usr/bin/systemctl restart docker"), rng.randint(0, 2)))
        ssh_session(w, rng, t, host, user.sam, 1000 + user.rid % 500, admin_ws.ip, "publickey", cmds,
                    rng.uniform(60, 1800), rng.b64ish(43))
    return run


def apt_update(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        repo = rng.choice(catalog.LINUX_REPOS[:2])
        ip = w.org.internet.ip(repo)
        dc = w.org.dc_for(host)
        w.net.dns(w.sink, t, rng, host.ip, dc.ip, repo, answers=(ip,), host=host.key)
        uid, sport = w.net.conn(w.sink, t + 0.1, rng, host.ip, ip, 80, service="http", duration=rng.uniform(1, 20),
                                ob=rng.randint(900, 4000), rb=rng.randint(100_000, 9_000_000), host=host.key)
        for i, suite in enumerate(("jammy-updates", "jammy-security", "jammy-backports")):
            w.net.http(w.sink, t + 0.2 + i * 0.3, rng, host.ip, ip, repo, f"/ubuntu/dists/{suite}/InRelease",
                       user_agent=catalog.APT_UA, resp_len=rng.randint(100_000, 130_000), mime="text/plain",
                       uid=uid, sport=sport, depth=i + 1, conn=False, host=host.key)
        if rng.chance(0.2):
            pkg = rng.choice(("openssl_3.0.2-0ubuntu1.15_amd64.deb", "libssl3_3.0.2-0ubuntu1.15_amd64.deb",
                              "linux-libc-dev_5.15.0-101.111_amd64.deb", "tzdata_2024a-0ubuntu0.22.04_all.deb"))
            w.net.http(w.sink, t + 2, rng, host.ip, ip, repo, f"/ubuntu/pool/main/{pkg[0]}/{pkg.split('_')[0]}/{pkg}",
                       user_agent=catalog.APT_UA, resp_len=rng.randint(200_000, 3_000_000),
                       mime="application/vnd.debian.binary-package", filename=None, uid=uid, sport=sport, depth=4,
                       conn=False, host=host.key)
    return run


def ssh_bruteforce(host: Host) -> Activity:
    """Internet password guessing against an exposed SSH server."""
    def run(w: World, rng: Rng, t: float) -> None:
        src = w.org.internet.random_ip(rng)
        lst: LinuxState = w.lin[host.idx]
        tt = t
        for _ in range(rng.randint(1, 12)):
            pid = lst.new_pid(rng)
            port = rng.randint(30000, 65000)
            user = rng.choice(INVALID_USERS)
            valid = user in ("backup", "ansible")
            if not valid:
                w.sink.syslog(tt, host, "sshd", pid, f"Invalid user {user} from {src} port {port}")
            w.sink.syslog(tt + 1.8, host, "sshd", pid,
                          f"Failed password for {'invalid user ' if not valid else ''}{user} from {src} port {port} "
                          "ssh2")
            w.sink.syslog(tt + 2.1, host, "sshd", pid,
                          f"Connection closed by {'invalid user ' if not valid else 'authenticating user '}{user} "
                          f"{src} port {port} [preauth]")
            w.net.conn(w.sink, tt - 0.1, rng, src, host.ip, 22, service="ssh", duration=rng.uniform(2, 4),
                       ob=rng.randint(1200, 2200), rb=rng.randint(1500, 2600), sport=port, host=host.key)
            tt += rng.uniform(2.5, 30)
    return run


def internet_scan(host: Host) -> Activity:
    """A scanner sweeping ports and probing well-known paths on a public host."""
    def run(w: World, rng: Rng, t: float) -> None:
        src = w.org.internet.random_ip(rng)
        tt = t
        for port in rng.sample((21, 22, 23, 25, 80, 443, 445, 1433, 3306, 3389, 5900, 8080, 8443, 9200), 4):
            open_ = port in ((80, 443) if host.role == "web" else (22,))
            w.net.conn(w.sink, tt, rng, src, host.ip, port, state="SF" if open_ else rng.choice(("S0", "REJ")),
                       duration=0.2 if open_ else None, ob=0, rb=0, host=host.key)
            tt += rng.uniform(0.01, 3)
        if host.role == "web" and rng.chance(0.6):
            for path in rng.sample(SCAN_PATHS, rng.randint(1, 4)):
                w.net.http(w.sink, tt, rng, src, host.ip, host.ip, path, user_agent=rng.choice(SCANNER_UAS),
                           status=404, resp_len=rng.randint(1200, 1300), mime="text/html", host=host.key)
                tt += rng.uniform(0.2, 5)
    return run


def plan_linux(w: World, host: Host, day: date, t0: float, rng: Rng, add: Add) -> None:
    noise = w.cfg.noise
    period = 600.0 / noise
    t = t0 + rng.uniform(0, 60)
    minute = 17
    while t < t0 + 86400:
        job = "command -v debian-sa1 > /dev/null && debian-sa1 1 1"
        add(t, cron(host, job))
        t += period
    add(t0 + 3600 * 6.25 + minute * 60, cron(host, "test -x /usr/sbin/anacron || { cd / && run-parts --report "
                                                    "/etc/cron.daily; }"))
    for h in range(24):
        add(t0 + h * 3600 + minute * 60, cron(host, "cd / && run-parts --report /etc/cron.hourly"))
    mgmt = w.org.first("mgmt") or w.org.dcs[0]
    for _ in range(rng.randint(1, 3)):
        add(t0 + rng.uniform(3600 * 7, 3600 * 19), ansible_run(host, mgmt))
    add(t0 + rng.uniform(3600 * 5, 3600 * 7), apt_update(host))
    it = [ws for ws in w.org.workstations if ws.user is not None and ws.user.department == "it"]
    if it and day.weekday() < 5 and rng.chance(0.35):
        ws = rng.choice(it)
        assert ws.user is not None
        add(t0 + rng.uniform(3600 * 9, 3600 * 17), admin_ssh(host, ws, ws.user))
    if host.role == "bastion":
        for _ in range(int(rng.randint(8, 40) * noise)):
            add(t0 + rng.uniform(0, 86400), ssh_bruteforce(host))


def plan_internet_noise(w: World, host: Host, t0: float, rng: Rng, add: Add) -> None:
    """Scanners hit every public host all day long."""
    for _ in range(int(rng.randint(10, 40) * w.cfg.noise)):
        add(t0 + rng.uniform(0, 86400), internet_scan(host))
