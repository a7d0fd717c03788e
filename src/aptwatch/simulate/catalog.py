"""Static catalogues the generators draw from: Windows binaries with their PE metadata,
Internet destinations a company talks to, user agents, names.

Values are what real systems show (PE `OriginalFileName`, `Description`, product names,
update endpoints, user agents). File hashes are *not* real: they are derived from the path
(`rand.file_hashes`) so the same binary has the same hash on every host, as in a fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

S32 = "C:\\Windows\\System32\\"
MS = "Microsoft Corporation"
WINPROD = "Microsoft® Windows® Operating System"
WINVER = "10.0.19041.3636 (WinBuild.160101.0800)"
SRVVER = "10.0.17763.5329 (WinBuild.160101.0800)"


@dataclass(frozen=True)
class Binary:
    """A PE image as Sysmon describes it."""

    path: str
    description: str
    product: str
    company: str
    original: str
    version: str
    signed_by: str = "Microsoft Windows"

    @property
    def name(self) -> str:
        return self.path.rsplit("\\", 1)[-1]


def _w(name: str, desc: str, original: str | None = None, folder: str = S32, version: str = WINVER) -> Binary:
    return Binary(folder + name, desc, WINPROD, MS, original or name, version)


_BINARIES: tuple[Binary, ...] = (
    _w("smss.exe", "Windows Session Manager"),
    _w("csrss.exe", "Client Server Runtime Process", "CSRSS.Exe"),
    _w("wininit.exe", "Windows Start-Up Application", "WinInit.exe"),
    _w("services.exe", "Services and Controller app", "services.exe"),
    _w("lsass.exe", "Local Security Authority Process", "lsass.exe"),
    _w("svchost.exe", "Host Process for Windows Services", "svchost.exe"),
    _w("winlogon.exe", "Windows Logon Application", "WINLOGON.EXE"),
    _w("userinit.exe", "Userinit Logon Application", "USERINIT.EXE"),
    _w("explorer.exe", "Windows Explorer", "EXPLORER.EXE", "C:\\Windows\\"),
    _w("sihost.exe", "Shell Infrastructure Host", "sihost.exe"),
    _w("ctfmon.exe", "CTF Loader", "CTFMON.EXE"),
    _w("RuntimeBroker.exe", "Runtime Broker", "RuntimeBroker.exe"),
    _w("dllhost.exe", "COM Surrogate", "dllhost.exe"),
    _w("taskhostw.exe", "Host Process for Windows Tasks", "taskhostw.exe"),
    _w("backgroundTaskHost.exe", "Background Task Host", "backgroundTaskHost.exe"),
    _w("SearchIndexer.exe", "Microsoft Windows Search Indexer", "SearchIndexer.exe"),
    _w("SearchProtocolHost.exe", "Microsoft Windows Search Protocol Host", "SearchProtocolHost.exe"),
    _w("smartscreen.exe", "Windows Defender SmartScreen", "smartscreen.exe"),
    _w("conhost.exe", "Console Window Host", "CONHOST.EXE"),
    _w("cmd.exe", "Windows Command Processor", "Cmd.Exe"),
    _w("powershell.exe", "Windows PowerShell", "PowerShell.EXE", S32 + "WindowsPowerShell\\v1.0\\"),
    _w("rundll32.exe", "Windows host process (Rundll32)", "RUNDLL32.EXE"),
    _w("regsvr32.exe", "Microsoft(C) Register Server", "REGSVR32.EXE"),
    _w("mshta.exe", "Microsoft (R) HTML Application host", "MSHTA.EXE"),
    _w("wscript.exe", "Microsoft ® Windows Based Script Host", "wscript.exe"),
    _w("cscript.exe", "Microsoft ® Console Based Script Host", "cscript.exe"),
    _w("WmiPrvSE.exe", "WMI Provider Host", "Wmiprvse.exe", S32 + "wbem\\"),
    _w("WMIC.exe", "WMI Commandline Utility", "wmic.exe", S32 + "wbem\\"),
    _w("wsmprovhost.exe", "Host process for WinRM plug-ins", "wsmprovhost.exe"),
    _w("mstsc.exe", "Remote Desktop Connection", "mstsc.exe"),
    _w("rdpclip.exe", "RDP Clipboard Monitor", "rdpclip.exe"),
    _w("net.exe", "Net Command", "net.exe"),
    _w("net1.exe", "Net Command", "net1.exe"),
    _w("ipconfig.exe", "IP Configuration Utility", "ipconfig.exe"),
    _w("whoami.exe", "whoami - displays logged on user information", "whoami.exe"),
    _w("systeminfo.exe", "Displays system information", "sysinfo.exe"),
    _w("nltest.exe", "Microsoft® Logon Server Test Utility", "nltestrk.exe"),
    _w("tasklist.exe", "Lists the current running tasks", "tasklist.exe"),
    _w("NETSTAT.EXE", "TCP/IP Netstat Command", "netstat.exe"),
    _w("nslookup.exe", "nslookup", "nslookup.exe"),
    _w("PING.EXE", "TCP/IP Ping Command", "ping.exe"),
    _w("HOSTNAME.EXE", "Hostname APP", "hostname.exe"),
    _w("quser.exe", "Query User Utility", "quser.exe"),
    _w("ARP.EXE", "TCP/IP Arp Command", "arp.exe"),
    _w("schtasks.exe", "Task Scheduler Configuration Tool", "schtasks.exe"),
    _w("sc.exe", "Service Control Manager Configuration Tool", "sc.exe"),
    _w("reg.exe", "Registry Console Tool", "reg.exe"),
    _w("certutil.exe", "CertUtil.exe", "CertUtil.exe"),
    _w("bitsadmin.exe", "BITS administration utility", "bitsadmin.exe"),
    _w("wevtutil.exe", "Eventing Command Line Utility", "wevtutil.exe"),
    _w("gpupdate.exe", "Microsoft® Group Policy Update Utility", "GPUpdate.exe"),
    _w("msiexec.exe", "Windows® installer", "msiexec.exe"),
    _w("Robocopy.exe", "Microsoft Robocopy", "robocopy.exe"),
    _w("vssadmin.exe", "Command Line Interface for Microsoft® Volume Shadow Copy Service", "VSSADMIN.EXE"),
    _w("findstr.exe", "Find String (QGREP) Utility", "findstr.exe"),
    _w("tar.exe", "BSD tar archive tool", "bsdtar"),
    _w("curl.exe", "The curl executable", "curl.exe"),
    _w("netsh.exe", "Network Command Shell", "netsh.exe"),
    _w("klist.exe", "Kerberos List Commandline Tool", "klist.exe"),
    _w("fodhelper.exe", "Features On Demand Helper", "FodHelper.EXE"),
    _w("wuauclt.exe", "Windows Update", "wuauclt.exe"),
    _w("usocoreworker.exe", "UsoCoreWorker.exe", "usocoreworker.exe"),
    _w("MusNotification.exe", "MusNotification.exe", "MusNotification.exe"),
    _w("CompatTelRunner.exe", "Microsoft Compatibility Telemetry", "CompatTelRunner.exe"),
    _w("MpSigStub.exe", "Microsoft Malware Protection Signature Update Stub", "MpSigStub.exe"),
    _w("notepad.exe", "Notepad", "NOTEPAD.EXE"),
    _w("sppsvc.exe", "Microsoft Software Protection Platform Service", "sppsvc.exe"),
    _w("wermgr.exe", "Windows Problem Reporting", "wermgr.exe"),
    _w("runas.exe", "Run As Utility", "RUNAS.EXE"),
    _w("mmc.exe", "Microsoft Management Console", "MMC.EXE"),
    _w("spoolsv.exe", "Spooler SubSystem App", "spoolsv.exe"),
    Binary("C:\\Windows\\Sysmon64.exe", "System activity monitor", "Sysinternals Sysmon",
           "Sysinternals - www.sysinternals.com", "Sysmon.exe", "15.14", "Microsoft Corporation"),
    _w("ntdsutil.exe", "NT5DS", "ntdsutil.exe", version=SRVVER),
    _w("dsquery.exe", "Microsoft AD DS/LDS query command line utility", "dsquery.exe", version=SRVVER),
    _w("dns.exe", "Domain Name System (DNS) Server", "dns.exe", version=SRVVER),
    _w("dfsrs.exe", "Distributed File System Replication", "dfsrs.exe", version=SRVVER),
    _w("wbadmin.exe", "Command Line Interface for Microsoft® BLB Backup", "WBADMIN.EXE", version=SRVVER),
    _w("w3wp.exe", "IIS Worker Process", "w3wp.exe", S32 + "inetsrv\\", SRVVER),
    _w("TiWorker.exe", "Windows Modules Installer Worker", "TiWorker.exe",
       "C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.3562_none_"
       "7d5d4f9b0d4ab5f1\\"),
    _w("TrustedInstaller.exe", "Windows Modules Installer", "TrustedInstaller.exe", "C:\\Windows\\servicing\\"),
    Binary("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\MsMpEng.exe",
           "Antimalware Service Executable", WINPROD, MS, "MsMpEng.exe", "4.18.24010.12 (WinBuild.160101.0800)"),
    Binary("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\MpCmdRun.exe",
           "Microsoft Malware Protection Command Line Utility", WINPROD, MS, "MpCmdRun.exe",
           "4.18.24010.12 (WinBuild.160101.0800)"),
    Binary("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "Google Chrome", "Google Chrome",
           "Google LLC", "chrome.exe", "122.0.6261.129", "Google LLC"),
    Binary("C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", "Microsoft Edge", "Microsoft Edge",
           MS, "msedge.exe", "122.0.2365.92", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", "Microsoft Outlook",
           "Microsoft Office", MS, "Outlook.exe", "16.0.17328.20184", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", "Microsoft Word",
           "Microsoft Office", MS, "WinWord.exe", "16.0.17328.20184", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", "Microsoft Excel",
           "Microsoft Office", MS, "Excel.exe", "16.0.17328.20184", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft Office\\root\\Office16\\POWERPNT.EXE", "Microsoft PowerPoint",
           "Microsoft Office", MS, "POWERPNT.EXE", "16.0.17328.20184", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft Office\\root\\Integration\\Integrator.exe", "Microsoft Office Integrator",
           "Microsoft Office", MS, "Integrator.exe", "16.0.17328.20184", "Microsoft Corporation"),
    Binary("C:\\Program Files (x86)\\Microsoft\\Teams\\current\\Teams.exe", "Microsoft Teams", "Microsoft Teams",
           MS, "Teams.exe", "1.7.00.3653", "Microsoft Corporation"),
    Binary("C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe", "Google Installer", "Google Update",
           "Google LLC", "GoogleUpdate.exe", "1.3.36.372", "Google LLC"),
    Binary("C:\\Program Files (x86)\\Common Files\\Adobe\\ARM\\1.0\\AdobeARM.exe",
           "Adobe Reader and Acrobat Manager", "Adobe Reader and Acrobat Manager", "Adobe Systems Incorporated",
           "AdobeARM.exe", "1.824.460.1042", "Adobe Inc."),
    Binary("C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe", "Adobe Acrobat", "Adobe Acrobat",
           "Adobe Systems Incorporated", "Acrobat.exe", "23.8.20533.0", "Adobe Inc."),
    Binary("C:\\Program Files\\7-Zip\\7z.exe", "7-Zip Console", "7-Zip", "Igor Pavlov", "7z.exe", "23.01", ""),
    Binary("C:\\Program Files\\Notepad++\\notepad++.exe", "Notepad++", "Notepad++", "Don HO don.h@free.fr",
           "notepad++.exe", "8.6.4", "Notepad++"),
    Binary("C:\\Windows\\CCM\\CcmExec.exe", "Host Process for Microsoft Configuration Manager",
           "Microsoft Configuration Manager", MS, "CcmExec.exe", "5.0.9122.1000", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Veeam\\Backup and Replication\\Backup\\Veeam.Backup.Manager.exe",
           "Veeam Backup Manager", "Veeam Backup & Replication", "Veeam Software Group GmbH",
           "Veeam.Backup.Manager.exe", "12.1.1.56", "Veeam Software Group GmbH"),
    Binary("C:\\Program Files\\Common Files\\Veeam\\Backup and Replication\\Transport\\VeeamTransportSvc.exe",
           "Veeam Transport Service", "Veeam Backup & Replication", "Veeam Software Group GmbH",
           "VeeamTransportSvc.exe", "12.1.1.56", "Veeam Software Group GmbH"),
    Binary("C:\\Program Files (x86)\\Veeam\\Backup Transport\\x64\\VeeamAgent.exe", "Veeam Agent",
           "Veeam Backup & Replication", "Veeam Software Group GmbH", "VeeamAgent.exe", "12.1.1.56",
           "Veeam Software Group GmbH"),
    Binary("C:\\Tools\\Sysinternals\\PsExec.exe", "Execute processes remotely", "Sysinternals PsExec",
           "Sysinternals - www.sysinternals.com", "psexec.c", "2.43", "Microsoft Corporation"),
    Binary("C:\\Windows\\PSEXESVC.exe", "PsExec Service", "Sysinternals PsExec",
           "Sysinternals - www.sysinternals.com", "psexesvc.exe", "2.43", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe",
           "SQL Server Windows NT - 64 Bit", "Microsoft SQL Server", MS, "SQLSERVR.EXE",
           "2019.0150.4355.03 ((SQL19_RTM_QFE-CU).240301-2133)", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Microsoft VS Code\\Code.exe", "Visual Studio Code", "Visual Studio Code", MS,
           "electron.exe", "1.87.2", "Microsoft Corporation"),
    Binary("C:\\Program Files\\Git\\cmd\\git.exe", "Git for Windows", "Git", "The Git Development Community",
           "git.exe", "2.44.0.windows.1", "Johannes Schindelin"),
)

BINARIES: dict[str, Binary] = {b.path.lower(): b for b in _BINARIES}
BY_NAME: dict[str, Binary] = {b.name.lower(): b for b in _BINARIES}


def binary(name_or_path: str) -> Binary:
    """Catalogue entry by file name (`cmd.exe`) or full path; unknown paths get plain metadata."""
    key = name_or_path.lower()
    if key in BINARIES:
        return BINARIES[key]
    if "\\" not in key:
        if key in BY_NAME:
            return BY_NAME[key]
        # a bare name is a system binary (what a command line like `sc.exe` starts)
        return Binary(S32 + name_or_path, "-", WINPROD, MS, name_or_path, WINVER)
    return Binary(name_or_path, "-", "-", "-", "-", "-", "")


# ------------------------------------------------------------------------------------------
# Internet: where a company's machines go. Weighted by popularity; the long tail of rarely
# visited business sites is generated per organisation (org.py), so "rare" is not "bad".
# ------------------------------------------------------------------------------------------
WEB_POPULAR: tuple[tuple[str, float], ...] = (
    ("www.google.com", 30), ("www.bing.com", 4), ("login.microsoftonline.com", 20), ("outlook.office365.com", 25),
    ("teams.microsoft.com", 15), ("graph.microsoft.com", 8), ("www.office.com", 6), ("www.linkedin.com", 6),
    ("github.com", 4), ("stackoverflow.com", 3), ("en.wikipedia.org", 4), ("www.youtube.com", 5),
    ("docs.google.com", 3), ("drive.google.com", 2), ("www.dropbox.com", 1.5), ("wetransfer.com", 0.6),
    ("slack.com", 2), ("zoom.us", 2), ("www.salesforce.com", 2), ("www.amazon.com", 2), ("www.bbc.co.uk", 2),
    ("www.reuters.com", 2), ("www.nytimes.com", 1.5), ("weather.com", 1), ("www.gstatic.com", 10),
    ("fonts.googleapis.com", 8), ("ajax.googleapis.com", 3), ("cdnjs.cloudflare.com", 3), ("cdn.jsdelivr.net", 2),
    ("static.xx.fbcdn.net", 1), ("i.ytimg.com", 2), ("accounts.google.com", 4), ("clients2.google.com", 3),
    ("edge.microsoft.com", 3), ("config.edge.skype.com", 2), ("www.msn.com", 2), ("api.github.com", 1),
    ("objects.githubusercontent.com", 0.7), ("pypi.org", 0.5), ("files.pythonhosted.org", 0.4),
    ("d3ag4hukkh62yn.cloudfront.net", 0.8), ("d1a2b3c4d5e6f7.cloudfront.net", 0.6),
    ("a1887.dscq.akamai.net", 0.5), ("e13678.dscb.akamaiedge.net", 0.5),
)

#: plain-HTTP endpoints Windows itself talks to (certificate checks, update metadata, connectivity)
HTTP_SYSTEM: tuple[tuple[str, str, str], ...] = (
    ("ocsp.digicert.com", "/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ50otx%2Fh0Ztl%2Bz8SiPI7wEWVxDlQQUTiJUIBiV5uNu5g%2F6%2B"
                          "rkS7QYXjzkCEAUZZSZEml49Gjh0j13P68w%3D", "application/ocsp-response"),
    ("crl3.digicert.com", "/DigiCertGlobalRootG2.crl", "application/pkix-crl"),
    ("ocsp.pki.goog", "/gts1c3", "application/ocsp-response"),
    ("r3.o.lencr.org", "/", "application/ocsp-response"),
    ("ctldl.windowsupdate.com", "/msdownload/update/v3/static/trustedr/en/authrootstl.cab?d9b56c8b2a3d9d39",
     "application/vnd.ms-cab-compressed"),
    ("www.msftconnecttest.com", "/connecttest.txt", "text/plain"),
    ("crl.microsoft.com", "/pki/crl/products/MicRooCerAut2011_2011_03_22.crl", "application/pkix-crl"),
)

#: Windows Update / Defender / Office update endpoints: large downloads, periodic checks
UPDATE_HOSTS: tuple[str, ...] = (
    "fe3cr.delivery.mp.microsoft.com", "slscr.update.microsoft.com", "tlu.dl.delivery.mp.microsoft.com",
    "au.download.windowsupdate.com", "definitionupdates.microsoft.com", "officecdn.microsoft.com",
    "7.tlu.dl.delivery.mp.microsoft.com", "dl.delivery.mp.microsoft.com",
)
#: quiet periodic call-home of legitimate software (benign beacons)
PERIODIC_BENIGN: tuple[tuple[str, str, float, float], ...] = (
    # domain, process name, mean interval seconds, jitter fraction
    ("v10.events.data.microsoft.com", "svchost.exe", 1800.0, 0.4),
    ("settings-win.data.microsoft.com", "svchost.exe", 3600.0 * 8, 0.2),
    ("wdcp.microsoft.com", "MsMpEng.exe", 3600.0, 0.3),
    ("client.wns.windows.com", "svchost.exe", 900.0, 0.5),
    ("oneclient.sfx.ms", "OneDrive.exe", 3600.0 * 4, 0.3),
    ("presence.teams.microsoft.com", "Teams.exe", 300.0, 0.25),
    ("update.googleapis.com", "GoogleUpdate.exe", 3600.0 * 5, 0.1),
)
LINUX_REPOS: tuple[str, ...] = ("archive.ubuntu.com", "security.ubuntu.com", "packages.microsoft.com",
                                "download.docker.com")

CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/122.0.0.0 Safari/537.36")
EDGE_UA = CHROME_UA + " Edg/122.0.0.0"
CRYPTOAPI_UA = "Microsoft-CryptoAPI/10.0"
WU_UA = "Microsoft-Delivery-Optimization/10.0"
NCSI_UA = "Microsoft NCSI"
APT_UA = "Debian APT-HTTP/1.3 (2.4.11) non-interactive"
PS_UA = "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.3803"

TLS_CIPHERS: tuple[str, ...] = (
    "TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
)

FIRST_NAMES: tuple[str, ...] = (
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth", "david",
    "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen", "chris", "nancy",
    "daniel", "lisa", "matthew", "betty", "anthony", "margaret", "mark", "sandra", "donald", "ashley", "steven",
    "kimberly", "paul", "emily", "andrew", "donna", "joshua", "michelle", "kenneth", "carol", "kevin", "amanda",
    "brian", "melissa", "george", "deborah", "timothy", "stephanie", "ronald", "rebecca", "edward", "sharon",
    "jason", "laura", "jeffrey", "cynthia", "ryan", "kathleen", "jacob", "amy", "gary", "angela", "nicholas",
    "shirley", "eric", "anna", "jonathan", "brenda", "stephen", "pamela", "larry", "emma", "justin", "nicole",
    "scott", "helen", "brandon", "samantha", "benjamin", "katherine", "samuel", "christine", "gregory", "debra",
    "alexander", "rachel", "frank", "carolyn", "raymond", "janet", "jack", "maria", "dennis", "olivia", "jerry",
    "heather", "tyler", "diane", "aaron", "julie", "jose", "joyce", "adam", "victoria", "nathan", "ruth",
    "henry", "virginia", "zachary", "lauren", "peter", "kelly", "kyle", "christina", "noah", "joan", "ethan",
    "evelyn", "jeremy", "judith", "walter", "andrea", "christian", "hannah", "keith", "megan", "roger", "cheryl",
)
LAST_NAMES: tuple[str, ...] = (
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
    "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
    "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker",
    "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson",
    "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts", "gomez", "phillips", "evans",
    "turner", "diaz", "parker", "cruz", "edwards", "collins", "reyes", "stewart", "morris", "morales", "murphy",
    "cook", "rogers", "gutierrez", "ortiz", "morgan", "cooper", "peterson", "bailey", "reed", "kelly", "howard",
    "ramos", "kim", "cox", "ward", "richardson", "watson", "brooks", "chavez", "wood", "james", "bennett", "gray",
    "mendoza", "ruiz", "hughes", "price", "alvarez", "castillo", "sanders", "patel", "myers", "long", "ross",
    "foster", "jimenez", "powell", "jenkins", "perry", "russell", "sullivan", "bell", "coleman", "butler",
)
DEPARTMENTS: tuple[str, ...] = ("finance", "hr", "sales", "marketing", "engineering", "legal", "operations",
                                "research", "support", "procurement")
#: words for generated names: long-tail business sites, shared folders, document titles
WORDS: tuple[str, ...] = (
    "alpha", "apex", "atlas", "beacon", "blue", "bright", "cedar", "cloud", "coast", "core", "crest", "delta",
    "direct", "eagle", "east", "echo", "edge", "elm", "first", "fox", "global", "gold", "green", "harbor", "hill",
    "horizon", "iron", "key", "lake", "leaf", "light", "link", "maple", "meridian", "metro", "north", "nova",
    "oak", "ocean", "orbit", "peak", "pine", "pioneer", "prime", "quest", "rapid", "red", "ridge", "river",
    "rock", "sage", "silver", "sky", "smart", "south", "spark", "star", "stone", "summit", "sun", "swift",
    "terra", "tide", "trust", "union", "united", "valley", "vector", "vista", "west", "wave", "wind", "zen",
)
BUSINESS_SUFFIXES: tuple[str, ...] = ("logistics", "consulting", "partners", "group", "labs", "systems", "media",
                                     "supply", "capital", "health", "legal", "tech", "solutions", "design",
                                     "foods", "energy", "travel", "insurance", "realty", "works")
TLDS: tuple[str, ...] = ("com", "com", "com", "net", "org", "io", "co.uk", "de", "eu", "biz", "info")
DOC_WORDS: tuple[str, ...] = (
    "budget", "forecast", "invoice", "contract", "proposal", "minutes", "report", "roadmap", "plan", "review",
    "summary", "analysis", "presentation", "policy", "timesheet", "quote", "order", "onboarding", "draft",
)
DOC_EXTS: tuple[str, ...] = (".docx", ".xlsx", ".pptx", ".pdf", ".docx", ".xlsx", ".txt", ".csv")
