"""Windows events -> event tables and columns, as data.

One table of `EventMap`s keyed by (provider or channel, EventID) says, for every Windows
event aptwatch maps, which event table it goes to, which EventData / UserData field
fills which column, and which constant columns (action, outcome, protocol, sensor) it
gets. Every Windows source (native EVTX, EVTX rendered as XML, winlogbeat, NXLog, OTRF,
Azure Log Analytics, evtx_dump JSON) first brings its record into the same shape
(`builder.WinEvent`: channel, provider, EventID, computer, time, flat fields) and then
goes through this one table, so the same event gives the same row whatever the export.

Rules (tested in tests/sources/test_windows_mapping.py):
- every field copied into a column is a Sigma alias of that column (model/schema.py), so
  a Sigma rule naming the field finds the column;
- a field no column takes stays in `data` under its own name;
- events not listed here go to the `generic` table with all their fields in `data`.

Columns filled by derivation rather than copy (process_name, file_name, md5/sha1/sha256/
imphash from Sysmon `Hashes`, `protocol` from the authentication package, `group_name` of
membership changes, the key=value details of classic PowerShell events) are listed in
`DERIVED` and documented in docs/sources.md.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: value of `outcome` decided from the Status field (Kerberos / NTLM events)
OUTCOME_FROM_STATUS = "from_status"


@dataclass(frozen=True)
class EventMap:
    """How one Windows event becomes a row.

    Attributes:
        table: event table.
        action: constant `action` column (None when the table has none).
        fields: column -> source field (EventData / UserData name, as Windows names it).
        const: other constant columns (outcome, protocol, sensor, ...).
        action_by: (field, {field value: action}) for events whose action depends on a
            field (Sysmon 12 CreateKey / DeleteKey); `action` is the fallback.
        special: name of a reshaping step run before mapping ('ps_classic' splits the
            key=value text of classic PowerShell events, 'ps_context' reads 4103 ContextInfo).
        title: what the event is, for docs.
        message: (label in the rendered English message, field) pairs, read from `Message`
            when an export dropped the event's UserData (NXLog does for WMI and Remote
            Desktop events) and kept only the rendered message.
    """

    table: str
    action: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    const: Mapping[str, str] = field(default_factory=dict)
    action_by: tuple[str, Mapping[str, str]] | None = None
    special: str | None = None
    title: str = ""
    message: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WinLog:
    """A Windows event log (provider) and the events of it aptwatch maps."""

    name: str
    #: provider names (System/Provider/@Name), the primary key
    providers: tuple[str, ...]
    #: channels that only this provider writes to (fallback when an export drops the provider)
    channels: tuple[str, ...]
    events: Mapping[int, EventMap]


# --------------------------------------------------------------------------------------
# Field groups
# --------------------------------------------------------------------------------------
SUBJECT = {"subject_sid": "SubjectUserSid", "subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName",
           "subject_logon_id": "SubjectLogonId"}
SYSMON_PROC = {"process_guid": "ProcessGuid", "process_id": "ProcessId", "process_path": "Image", "user": "User"}
PE_META = {"file_version": "FileVersion", "description": "Description", "product": "Product", "company": "Company",
           "original_file_name": "OriginalFileName"}
SIGNATURE = {"signed": "Signed", "signature": "Signature", "signature_status": "SignatureStatus"}
TARGET_ACCOUNT = {"target_user": "TargetUserName", "target_domain": "TargetDomainName", "target_sid": "TargetSid"}


def _m(table: str, action: str | None, *groups: Mapping[str, str], title: str = "",
       const: Mapping[str, str] | None = None, action_by: tuple[str, Mapping[str, str]] | None = None,
       special: str | None = None, message: Mapping[str, str] | None = None) -> EventMap:
    fields: dict[str, str] = {}
    for g in groups:
        fields.update(g)
    return EventMap(table, action, fields, dict(const or {}), action_by, special, title,
                    tuple((message or {}).items()))


# --------------------------------------------------------------------------------------
# Sysmon (Microsoft-Windows-Sysmon/Operational), schema 4.90: every event id
# --------------------------------------------------------------------------------------
_SYSMON_FILE = {**SYSMON_PROC, "path": "TargetFilename"}
_SYSMON_DELETE = {**_SYSMON_FILE, "hashes": "Hashes"}
_REG = {**SYSMON_PROC, "target_object": "TargetObject", "event_type": "EventType"}
_REG_ACTIONS = {"CreateKey": "create_key", "DeleteKey": "delete", "DeleteValue": "delete", "SetValue": "set_value",
                "RenameKey": "rename", "CreateValue": "set_value"}

SYSMON: dict[int, EventMap] = {
    1: _m("process", "start", SYSMON_PROC, PE_META, {
        "command_line": "CommandLine", "current_directory": "CurrentDirectory", "integrity_level": "IntegrityLevel",
        "logon_id": "LogonId", "logon_guid": "LogonGuid", "terminal_session_id": "TerminalSessionId",
        "hashes": "Hashes", "parent_process_guid": "ParentProcessGuid", "parent_process_id": "ParentProcessId",
        "parent_path": "ParentImage", "parent_command_line": "ParentCommandLine", "parent_user": "ParentUser"},
        title="Process creation"),
    2: _m("file", "time_change", _SYSMON_FILE, {"creation_time": "CreationUtcTime",
                                                "previous_creation_time": "PreviousCreationUtcTime"},
          title="File creation time changed"),
    3: _m("network", None, SYSMON_PROC, {
        "protocol": "Protocol", "initiated": "Initiated", "src_ip": "SourceIp", "src_hostname": "SourceHostname",
        "src_port": "SourcePort", "dst_ip": "DestinationIp", "dst_hostname": "DestinationHostname",
        "dst_port": "DestinationPort"}, title="Network connection"),
    4: _m("logging", "sensor_state_changed", {"state": "State"}, title="Sysmon service state changed"),
    5: _m("process", "end", SYSMON_PROC, title="Process terminated"),
    6: _m("image_load", "driver_load", {"image_loaded": "ImageLoaded", "hashes": "Hashes"}, SIGNATURE,
          title="Driver loaded"),
    7: _m("image_load", "image_load", SYSMON_PROC, PE_META, SIGNATURE,
          {"image_loaded": "ImageLoaded", "hashes": "Hashes"}, title="Image loaded"),
    8: _m("process_access", "remote_thread", {
        "source_process_guid": "SourceProcessGuid", "source_process_id": "SourceProcessId",
        "source_path": "SourceImage", "source_user": "SourceUser", "target_process_guid": "TargetProcessGuid",
        "target_process_id": "TargetProcessId", "target_path": "TargetImage", "target_user": "TargetUser",
        "start_address": "StartAddress", "start_module": "StartModule", "start_function": "StartFunction"},
        title="CreateRemoteThread"),
    9: _m("file", "raw_read", SYSMON_PROC, {"path": "Device"}, title="RawAccessRead"),
    10: _m("process_access", "access", {
        "source_process_guid": "SourceProcessGUID", "source_process_id": "SourceProcessId",
        "source_path": "SourceImage", "source_user": "SourceUser", "target_process_guid": "TargetProcessGUID",
        "target_process_id": "TargetProcessId", "target_path": "TargetImage", "target_user": "TargetUser",
        "granted_access": "GrantedAccess", "call_trace": "CallTrace"}, title="ProcessAccess"),
    11: _m("file", "create", _SYSMON_FILE, {"creation_time": "CreationUtcTime"}, title="FileCreate"),
    12: _m("registry", "create_key", _REG, action_by=("EventType", _REG_ACTIONS),
           title="Registry object added or deleted"),
    13: _m("registry", "set_value", _REG, {"details": "Details"}, title="Registry value set"),
    14: _m("registry", "rename", _REG, {"new_name": "NewName"}, title="Registry object renamed"),
    15: _m("file", "stream", _SYSMON_FILE, {"creation_time": "CreationUtcTime", "hashes": "Hash",
                                           "contents": "Contents"}, title="FileCreateStreamHash"),
    16: _m("logging", "sensor_config_changed", {"configuration": "Configuration"},
           title="Sysmon configuration changed"),
    17: _m("pipe", "created", SYSMON_PROC, {"pipe_name": "PipeName"}, title="Pipe created"),
    18: _m("pipe", "connected", SYSMON_PROC, {"pipe_name": "PipeName"}, title="Pipe connected"),
    19: _m("persistence", "wmi_filter", {"user": "User", "operation": "Operation", "name": "Name",
                                        "content": "Query"}, title="WmiEventFilter activity"),
    20: _m("persistence", "wmi_consumer", {"user": "User", "operation": "Operation", "name": "Name",
                                          "image_path": "Destination"}, title="WmiEventConsumer activity"),
    21: _m("persistence", "wmi_binding", {"user": "User", "operation": "Operation", "consumer": "Consumer",
                                         "filter": "Filter"}, title="WmiEventConsumerToFilter activity"),
    22: _m("dns", None, SYSMON_PROC, {"query": "QueryName", "status": "QueryStatus", "answers": "QueryResults"},
           title="DNS query"),
    23: _m("file", "delete", _SYSMON_DELETE, title="FileDelete (archived)"),
    24: _m("file", "clipboard", SYSMON_PROC, {"hashes": "Hashes"}, title="Clipboard changed"),
    25: _m("process_access", "tamper", {"target_process_guid": "ProcessGuid", "target_process_id": "ProcessId",
                                        "target_path": "Image", "target_user": "User", "tamper_type": "Type"},
           title="Process image tampering"),
    26: _m("file", "delete", _SYSMON_DELETE, title="FileDeleteDetected"),
    27: _m("file", "block_executable", _SYSMON_DELETE, title="FileBlockExecutable"),
    28: _m("file", "block_shredding", _SYSMON_DELETE, title="FileBlockShredding"),
    29: _m("file", "executable_detected", _SYSMON_DELETE, title="FileExecutableDetected"),
}

# --------------------------------------------------------------------------------------
# Security (Microsoft-Windows-Security-Auditing)
# --------------------------------------------------------------------------------------
_LOGON = {
    **SUBJECT, "target_user": "TargetUserName", "target_domain": "TargetDomainName", "target_sid": "TargetUserSid",
    "logon_id": "TargetLogonId", "logon_type": "LogonType", "logon_process": "LogonProcessName",
    "auth_package": "AuthenticationPackageName", "workstation": "WorkstationName", "process_id": "ProcessId",
    "process_path": "ProcessName", "src_ip": "IpAddress", "src_port": "IpPort"}
_KERBEROS = {"target_user": "TargetUserName", "target_domain": "TargetDomainName", "service": "ServiceName",
             "ticket_options": "TicketOptions", "src_ip": "IpAddress", "src_port": "IpPort"}
_KRB = {"protocol": "kerberos"}
_TASK = {**SUBJECT, "name": "TaskName"}
_OBJECT = {**SUBJECT, "path": "ObjectName", "access_mask": "AccessMask", "process_id": "ProcessId",
           "process_path": "ProcessName"}
_SHARE = {**SUBJECT, "share_name": "ShareName", "share_path": "ShareLocalPath", "access_mask": "AccessMask",
          "src_ip": "IpAddress"}
_ACCOUNT = {**SUBJECT, **TARGET_ACCOUNT}
_MEMBER = {**_ACCOUNT, "member_name": "MemberName", "member_sid": "MemberSid"}
_DS_OBJECT = {**SUBJECT, "object_dn": "ObjectName"}

SECURITY: dict[int, EventMap] = {
    4624: _m("auth", "logon", _LOGON, {"elevated_token": "ElevatedToken"}, const={"outcome": "success"},
             title="An account was successfully logged on"),
    4625: _m("auth", "logon_failed", _LOGON, {"status": "Status", "sub_status": "SubStatus"},
             const={"outcome": "failure"}, title="An account failed to log on"),
    4634: _m("auth", "logoff", {"target_user": "TargetUserName", "target_domain": "TargetDomainName",
                                "target_sid": "TargetUserSid", "logon_id": "TargetLogonId",
                                "logon_type": "LogonType"}, const={"outcome": "success"},
             title="An account was logged off"),
    4647: _m("auth", "logoff", {"target_user": "TargetUserName", "target_domain": "TargetDomainName",
                                "target_sid": "TargetUserSid", "logon_id": "TargetLogonId"},
             const={"outcome": "success"}, title="User initiated logoff"),
    4648: _m("auth", "explicit_credentials", SUBJECT, {
        "target_user": "TargetUserName", "target_domain": "TargetDomainName", "target_server": "TargetServerName",
        "process_id": "ProcessId", "process_path": "ProcessName", "src_ip": "IpAddress", "src_port": "IpPort"},
        title="A logon was attempted using explicit credentials"),
    4672: _m("auth", "special_privileges", SUBJECT, {"privileges": "PrivilegeList"},
             title="Special privileges assigned to new logon"),
    4673: _m("auth", "privileged_service", SUBJECT, {"privileges": "PrivilegeList", "service": "Service",
                                                     "process_id": "ProcessId", "process_path": "ProcessName"},
             title="A privileged service was called"),
    4674: _m("auth", "privileged_object", SUBJECT, {"privileges": "PrivilegeList", "process_id": "ProcessId",
                                                    "process_path": "ProcessName"},
             title="An operation was attempted on a privileged object"),
    4768: _m("auth", "tgt_request", _KERBEROS, {"target_sid": "TargetSid", "status": "Status",
                                                "ticket_encryption": "TicketEncryptionType"},
             const={**_KRB, "outcome": OUTCOME_FROM_STATUS}, title="A Kerberos TGT was requested"),
    4769: _m("auth", "service_ticket", _KERBEROS, {"status": "Status", "ticket_encryption": "TicketEncryptionType"},
             const={**_KRB, "outcome": OUTCOME_FROM_STATUS}, title="A Kerberos service ticket was requested"),
    4770: _m("auth", "ticket_renewed", _KERBEROS, {"ticket_encryption": "TicketEncryptionType"},
             const={**_KRB, "outcome": "success"}, title="A Kerberos service ticket was renewed"),
    4771: _m("auth", "preauth_failed", _KERBEROS, {"target_sid": "TargetSid", "status": "Status"},
             const={**_KRB, "outcome": "failure"}, title="Kerberos pre-authentication failed"),
    4776: _m("auth", "credential_validation", {"auth_package": "PackageName", "target_user": "TargetUserName",
                                               "workstation": "Workstation", "status": "Status"},
             const={"protocol": "ntlm", "outcome": OUTCOME_FROM_STATUS},
             title="The computer attempted to validate the credentials for an account (NTLM)"),
    4778: _m("auth", "session_reconnect", {"target_user": "AccountName", "target_domain": "AccountDomain",
                                           "logon_id": "LogonID", "workstation": "ClientName",
                                           "src_ip": "ClientAddress"}, title="A session was reconnected"),
    4779: _m("auth", "session_disconnect", {"target_user": "AccountName", "target_domain": "AccountDomain",
                                            "logon_id": "LogonID", "workstation": "ClientName",
                                            "src_ip": "ClientAddress"}, title="A session was disconnected"),
    # Process tracking. 4688's ProcessId is the *creator's* PID: it stays in `data` (the process
    # table's ProcessId alias means the process itself, as in Sysmon).
    4688: _m("process", "start", {"user": "SubjectUserName", "logon_id": "SubjectLogonId",
                                  "process_id": "NewProcessId", "process_path": "NewProcessName",
                                  "command_line": "CommandLine", "parent_path": "ParentProcessName"},
             title="A new process has been created"),
    4689: _m("process", "end", {"user": "SubjectUserName", "logon_id": "SubjectLogonId", "process_id": "ProcessId",
                                "process_path": "ProcessName", "exit_code": "Status"},
             title="A process has exited"),
    # Object access
    4656: _m("file", "handle_request", _OBJECT, title="A handle to an object was requested"),
    4663: _m("file", "access", _OBJECT, title="An attempt was made to access an object"),
    4657: _m("registry", "set_value", SUBJECT, {"target_object": "ObjectName", "details": "NewValue",
                                                "process_id": "ProcessId", "process_path": "ProcessName"},
             title="A registry value was modified"),
    4661: _m("account", "object_handle", _DS_OBJECT, title="A handle to an object was requested (SAM / DS)"),
    4662: _m("account", "directory_access", _DS_OBJECT, title="An operation was performed on an object (DS)"),
    5140: _m("file", "share_connect", _SHARE, title="A network share object was accessed"),
    5145: _m("file", "share_access", _SHARE, {"relative_target": "RelativeTargetName"},
             title="A network share object was checked for access (detailed file share)"),
    5156: _m("network", None, {"process_id": "ProcessID", "process_path": "Application", "src_ip": "SourceAddress",
                               "src_port": "SourcePort", "dst_ip": "DestAddress", "dst_port": "DestPort",
                               "protocol": "Protocol"},
             title="The Windows Filtering Platform has permitted a connection"),
    # Services and scheduled tasks
    4697: _m("persistence", "service_installed", SUBJECT, {
        "name": "ServiceName", "image_path": "ServiceFileName", "service_type": "ServiceType",
        "start_type": "ServiceStartType", "account": "ServiceAccount"}, title="A service was installed"),
    4698: _m("persistence", "task_created", _TASK, {"content": "TaskContent"}, title="A scheduled task was created"),
    4699: _m("persistence", "task_deleted", _TASK, {"content": "TaskContent"}, title="A scheduled task was deleted"),
    4700: _m("persistence", "task_enabled", _TASK, {"content": "TaskContent"}, title="A scheduled task was enabled"),
    4701: _m("persistence", "task_disabled", _TASK, {"content": "TaskContent"},
             title="A scheduled task was disabled"),
    4702: _m("persistence", "task_updated", _TASK, {"content": "TaskContentNew"}, title="A scheduled task was updated"),
    # Account management and directory service changes
    4720: _m("account", "user_created", _ACCOUNT, {"sam_account_name": "SamAccountName"},
             title="A user account was created"),
    4722: _m("account", "user_enabled", _ACCOUNT, title="A user account was enabled"),
    4724: _m("account", "password_reset", _ACCOUNT, title="An attempt was made to reset an account's password"),
    4725: _m("account", "user_disabled", _ACCOUNT, title="A user account was disabled"),
    4726: _m("account", "user_deleted", _ACCOUNT, title="A user account was deleted"),
    4728: _m("account", "member_added", _MEMBER, title="A member was added to a security-enabled global group"),
    4732: _m("account", "member_added", _MEMBER, title="A member was added to a security-enabled local group"),
    4756: _m("account", "member_added", _MEMBER, title="A member was added to a security-enabled universal group"),
    4738: _m("account", "user_changed", _ACCOUNT, {"sam_account_name": "SamAccountName"},
             title="A user account was changed"),
    4742: _m("account", "computer_changed", _ACCOUNT, {"sam_account_name": "SamAccountName"},
             title="A computer account was changed"),
    5136: _m("account", "directory_change", SUBJECT, {
        "object_dn": "ObjectDN", "attribute": "AttributeLDAPDisplayName", "attribute_value": "AttributeValue"},
        title="A directory service object was modified"),
    # Audit policy
    4719: _m("logging", "audit_policy_changed", SUBJECT, {
        "policy_changes": "AuditPolicyChanges", "subcategory_guid": "SubcategoryGuid"},
        title="System audit policy was changed"),
}

_LOG_CLEARED = _m("logging", "log_cleared", SUBJECT, {"backup_path": "BackupPath"}, title="The log was cleared")
EVENTLOG: dict[int, EventMap] = {
    1102: _LOG_CLEARED,  # Security channel
    104: _LOG_CLEARED,  # System channel
}

SERVICE_CONTROL_MANAGER: dict[int, EventMap] = {
    7045: _m("persistence", "service_installed", {
        "name": "ServiceName", "image_path": "ImagePath", "service_type": "ServiceType", "start_type": "StartType",
        "account": "AccountName"}, title="A service was installed in the system"),
    7036: _m("persistence", "service_state_changed", {"name": "param1", "state": "param2"},
             title="The service entered a state (param1 service, param2 state)"),
    7040: _m("persistence", "service_changed", {"name": "param1", "start_type": "param3"},
             title="The start type of a service was changed (param2 old, param3 new)"),
}

# --------------------------------------------------------------------------------------
# PowerShell
# --------------------------------------------------------------------------------------
POWERSHELL: dict[int, EventMap] = {
    4104: _m("script", "script_block", {
        "script_block_text": "ScriptBlockText", "script_block_id": "ScriptBlockId", "message_number": "MessageNumber",
        "message_total": "MessageTotal", "path": "Path"}, title="Script block logging"),
    4103: _m("script", "module", {"payload": "Payload", "context_info": "ContextInfo"}, special="ps_context",
             title="Module logging (pipeline execution)"),
}
_PS_CLASSIC = {"data_text": "Data", "host_application": "HostApplication", "engine_version": "EngineVersion",
               "user": "UserId"}
POWERSHELL_CLASSIC: dict[int, EventMap] = {
    400: _m("script", "engine_start", _PS_CLASSIC, special="ps_classic", title="Engine state changed to Available"),
    403: _m("script", "engine_stop", _PS_CLASSIC, special="ps_classic", title="Engine state changed to Stopped"),
    600: _m("script", "provider_start", _PS_CLASSIC, special="ps_classic", title="Provider started"),
    800: _m("script", "pipeline", _PS_CLASSIC, special="ps_classic", title="Pipeline execution details"),
}

# --------------------------------------------------------------------------------------
# WMI, Task Scheduler, BITS
# --------------------------------------------------------------------------------------
WMI_ACTIVITY: dict[int, EventMap] = {
    5857: _m("persistence", "wmi_provider_started", {"name": "ProviderName", "image_path": "ProviderPath",
                                                     "process_id": "ProcessID"},
             title="WMI provider started (host process ProcessID)"),
    5858: _m("persistence", "wmi_error", {"operation": "Operation", "user": "User", "process_id": "ClientProcessId"},
             title="WMI operation failed",
             message={k: k for k in ("Id", "ClientMachine", "User", "ClientProcessId", "Component", "Operation",
                                     "ResultCode", "PossibleCause")}),
    5859: _m("persistence", "wmi_subscription", {"name": "providerName", "content": "Query", "user": "User",
                                                 "process_id": "processid"},
             title="WMI event filter activated"),
    5860: _m("persistence", "wmi_temporary_subscription", {"content": "Query", "user": "User",
                                                           "process_id": "processid"},
             title="WMI temporary event subscription registered",
             message={"Namespace": "NamespaceName", "NotificationQuery": "Query", "UserName": "User",
                      "ClientProcessID": "processid", "ClientMachine": "MachineName",
                      "PossibleCause": "PossibleCause"}),
    5861: _m("persistence", "wmi_binding", {"consumer": "CONSUMER", "filter": "ESS"},
             title="WMI permanent event consumer bound to a filter",
             message={"Namespace": "Namespace", "Eventfilter": "ESS", "Consumer": "CONSUMER",
                      "PossibleCause": "PossibleCause"}),
}

TASK_SCHEDULER: dict[int, EventMap] = {
    106: _m("persistence", "task_registered", {"name": "TaskName", "account": "UserContext"},
            title="Task registered"),
    140: _m("persistence", "task_updated", {"name": "TaskName", "account": "UserName"}, title="Task updated"),
    141: _m("persistence", "task_deleted", {"name": "TaskName", "account": "UserName"}, title="Task deleted"),
    142: _m("persistence", "task_disabled", {"name": "TaskName", "account": "UserName"}, title="Task disabled"),
    200: _m("persistence", "task_launched", {"name": "TaskName", "image_path": "ActionName"},
            title="Task action started"),
    201: _m("persistence", "task_completed", {"name": "TaskName", "image_path": "ActionName"},
            title="Task action completed"),
}

_BITS_JOB = {"name": "jobTitle", "account": "jobOwner"}
_BITS_TRANSFER = {"name": "name", "url": "url"}
BITS_CLIENT: dict[int, EventMap] = {
    3: _m("persistence", "bits_job_created", _BITS_JOB, {"process_path": "processPath", "process_id": "processId"},
          title="BITS job created"),
    4: _m("persistence", "bits_job_completed", _BITS_JOB, title="BITS job completed"),
    5: _m("persistence", "bits_job_cancelled", _BITS_JOB, title="BITS job cancelled"),
    59: _m("persistence", "bits_transfer_started", _BITS_TRANSFER, title="BITS transfer started"),
    60: _m("persistence", "bits_transfer_stopped", _BITS_TRANSFER, title="BITS transfer stopped"),
    61: _m("persistence", "bits_transfer_error", _BITS_TRANSFER, title="BITS transfer stopped with an error"),
    16403: _m("persistence", "bits_job_file", {"name": "jobTitle", "account": "jobOwner", "url": "RemoteName",
                                               "local_path": "LocalName"}, title="BITS job file added"),
}

# --------------------------------------------------------------------------------------
# Microsoft Defender Antivirus
# --------------------------------------------------------------------------------------
_DEFENDER_ALERT = {"signature": "Threat Name", "signature_id": "Threat ID", "severity": "Severity Name",
                   "category": "Category Name", "user": "Detection User", "process_path": "Process Name",
                   "file_path": "Path"}
_DEFENDER = {"sensor": "Microsoft Defender Antivirus"}
DEFENDER: dict[int, EventMap] = {
    1006: _m("ids_alert", None, _DEFENDER_ALERT, const=_DEFENDER, title="Malware detected (scan)"),
    1015: _m("ids_alert", None, _DEFENDER_ALERT, const=_DEFENDER, title="Suspicious behavior detected"),
    1116: _m("ids_alert", None, _DEFENDER_ALERT, const=_DEFENDER, title="Malware or unwanted software detected"),
    1117: _m("ids_alert", None, _DEFENDER_ALERT, {"alert_action": "Action Name"}, const=_DEFENDER,
             title="Action taken to protect the system"),
    5001: _m("logging", "sensor_disabled", title="Real-time protection disabled"),
    5010: _m("logging", "sensor_disabled", title="Scanning for malware and other unwanted software disabled"),
    5012: _m("logging", "sensor_disabled", title="Scanning for viruses disabled"),
    5007: _m("logging", "sensor_config_changed", {"old_value": "Old Value", "new_value": "New Value"},
             title="Antimalware platform configuration changed"),
}

# --------------------------------------------------------------------------------------
# Remote Desktop
# --------------------------------------------------------------------------------------
_RDP = {"protocol": "rdp"}
_LSM = {"target_user": "User", "src_ip": "Address"}
_LSM_MESSAGE = {"User": "User", "Session ID": "SessionID", "Source Network Address": "Address"}
TS_LOCAL_SESSION_MANAGER: dict[int, EventMap] = {
    21: _m("auth", "rdp_logon", _LSM, const={**_RDP, "outcome": "success"}, title="Session logon succeeded",
           message=_LSM_MESSAGE),
    22: _m("auth", "rdp_shell_start", _LSM, const=_RDP, title="Shell start notification received",
           message=_LSM_MESSAGE),
    23: _m("auth", "rdp_logoff", _LSM, const=_RDP, title="Session logoff succeeded", message=_LSM_MESSAGE),
    24: _m("auth", "rdp_disconnect", _LSM, const=_RDP, title="Session has been disconnected", message=_LSM_MESSAGE),
    25: _m("auth", "rdp_reconnect", _LSM, const={**_RDP, "outcome": "success"},
           title="Session reconnection succeeded", message=_LSM_MESSAGE),
}
TS_REMOTE_CONNECTION_MANAGER: dict[int, EventMap] = {
    1149: _m("auth", "rdp_authenticated", {"target_user": "Param1", "target_domain": "Param2", "src_ip": "Param3"},
             const={**_RDP, "outcome": "success"}, title="Remote Desktop Services: User authentication succeeded",
             message={"User": "Param1", "Domain": "Param2", "Source Network Address": "Param3"}),
}
TS_RDP_CLIENT: dict[int, EventMap] = {
    1024: _m("auth", "rdp_client_connect", {"target_server": "Value"}, const=_RDP,
             title="RDP ClientActiveX is trying to connect to the server"),
    1102: _m("auth", "rdp_client_multitransport", {"target_server": "Value"}, const=_RDP,
             title="The client has initiated a multi-transport connection to the server"),
}

LOGS: tuple[WinLog, ...] = (
    WinLog("sysmon", ("Microsoft-Windows-Sysmon",), ("Microsoft-Windows-Sysmon/Operational",), SYSMON),
    WinLog("security", ("Microsoft-Windows-Security-Auditing",), ("Security",), SECURITY),
    WinLog("eventlog", ("Microsoft-Windows-Eventlog", "EventLog"), (), EVENTLOG),
    WinLog("scm", ("Service Control Manager",), (), SERVICE_CONTROL_MANAGER),
    WinLog("powershell", ("Microsoft-Windows-PowerShell",), ("Microsoft-Windows-PowerShell/Operational",),
           POWERSHELL),
    WinLog("powershell_classic", ("PowerShell",), ("Windows PowerShell",), POWERSHELL_CLASSIC),
    WinLog("wmi", ("Microsoft-Windows-WMI-Activity",), ("Microsoft-Windows-WMI-Activity/Operational",), WMI_ACTIVITY),
    WinLog("taskscheduler", ("Microsoft-Windows-TaskScheduler",), ("Microsoft-Windows-TaskScheduler/Operational",),
           TASK_SCHEDULER),
    WinLog("bits", ("Microsoft-Windows-Bits-Client",), ("Microsoft-Windows-Bits-Client/Operational",), BITS_CLIENT),
    WinLog("defender", ("Microsoft-Windows-Windows Defender",), ("Microsoft-Windows-Windows Defender/Operational",),
           DEFENDER),
    WinLog("ts_lsm", ("Microsoft-Windows-TerminalServices-LocalSessionManager",),
           ("Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",), TS_LOCAL_SESSION_MANAGER),
    WinLog("ts_rcm", ("Microsoft-Windows-TerminalServices-RemoteConnectionManager",),
           ("Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",), TS_REMOTE_CONNECTION_MANAGER),
    WinLog("ts_rdpclient", ("Microsoft-Windows-TerminalServices-ClientActiveXCore",),
           ("Microsoft-Windows-TerminalServices-RDPClient/Operational",), TS_RDP_CLIENT),
)

#: columns filled by derivation, not by copying a field: table -> column -> how
DERIVED: dict[str, dict[str, str]] = {
    "process": {"process_name": "file name of process_path",
                "md5": "MD5= of Hashes", "sha1": "SHA1= of Hashes", "sha256": "SHA256= of Hashes",
                "imphash": "IMPHASH= of Hashes"},
    "file": {"file_name": "file name of path", "md5": "MD5= of Hashes", "sha1": "SHA1= of Hashes",
             "sha256": "SHA256= of Hashes", "imphash": "IMPHASH= of Hashes"},
    "image_load": {"md5": "MD5= of Hashes", "sha1": "SHA1= of Hashes", "sha256": "SHA256= of Hashes",
                   "imphash": "IMPHASH= of Hashes"},
    "auth": {"protocol": "lower-cased authentication package (kerberos, ntlm, negotiate) unless set by the event",
             "outcome": "success when Status is 0x0 (Kerberos, NTLM validation), else failure"},
    "account": {"group_name": "TargetUserName of membership changes (the group)"},
    "script": {"host_application": "'Host Application =' of 4103 ContextInfo", "user": "'User =' of 4103 ContextInfo",
               "engine_version": "'Engine Version =' of 4103 ContextInfo"},
}


@functools.cache
def index() -> Mapping[tuple[str, int], EventMap]:
    """(lower-case provider or 'channel:' + lower-case channel, EventID) -> EventMap. Built once per
    process (every source file needs it; read-only)."""
    out: dict[tuple[str, int], EventMap] = {}
    for log in LOGS:
        for eid, em in log.events.items():
            for p in log.providers:
                out[(p.lower(), eid)] = em
            for c in log.channels:
                out[("channel:" + c.lower(), eid)] = em
    return MappingProxyType(out)


def render_markdown() -> str:
    """docs/windows_mapping.md, generated: `python -m aptwatch.sources.windows.mapping`."""
    lines = [
        "# Windows event mapping",
        "",
        "Generated from `src/aptwatch/sources/windows/mapping.py` by",
        "`python -m aptwatch.sources.windows.mapping > docs/windows_mapping.md`; a test fails when this file is",
        "stale. Every Windows source (EVTX, evtx JSON, XML, winlogbeat, NXLog, OTRF, Azure) maps events",
        "through this one table. An event is looked up by provider, then by a channel only that provider",
        "writes. Fields not listed go to `data` under their own names; events not listed go to `generic`.",
        "Columns derived rather than copied:",
        "",
    ]
    for table, cols in DERIVED.items():
        lines.append(f"- `{table}`: " + "; ".join(f"`{c}` = {how}" for c, how in cols.items()))
    lines.append("")
    for log in LOGS:
        lines += [f"## {log.name}", "",
                  "Providers: " + ", ".join(f"`{p}`" for p in log.providers)
                  + (". Channels: " + ", ".join(f"`{c}`" for c in log.channels) if log.channels else "") + ".", "",
                  "| EventID | event | table | action | field -> column | constants |", "|---|---|---|---|---|---|"]
        for eid, em in sorted(log.events.items()):
            fields = ", ".join(f"{f} -> {c}" for c, f in em.fields.items())
            const = ", ".join(f"{c}={v}" for c, v in em.const.items())
            action = em.action or ""
            if em.action_by:
                action += " (by " + em.action_by[0] + ")"
            extra = []
            if em.special:
                extra.append(f"special: {em.special}")
            if em.message:
                extra.append("message fallback: " + ", ".join(f"'{label}' -> {f}" for label, f in em.message))
            note = f" ({'; '.join(extra)})" if extra else ""
            lines.append(f"| {eid} | {em.title}{note} | `{em.table}` | {action} | {fields} | {const} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    sys.stdout.write(render_markdown() + "\n")
