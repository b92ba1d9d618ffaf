#!/usr/bin/env python3
"""Writes alerts.ndjson: synthetic Defender alerts (invented data, real shapes).

Run from this directory: python3 generate.py > alerts.ndjson
"""
import json

TENANT = "0b9c1f7e-5d2a-4c3b-9e8f-1a2b3c4d5e6f"

EV_KEYS = ["entityType", "evidenceCreationTime", "sha1", "sha256", "fileName", "filePath",
           "processId", "processCommandLine", "processCreationTime", "parentProcessId",
           "parentProcessCreationTime", "parentProcessFileName", "parentProcessFilePath",
           "ipAddress", "url", "registryKey", "registryHive", "registryValueType",
           "registryValue", "registryValueName", "accountName", "domainName", "userSid",
           "aadUserId", "userPrincipalName", "detectionStatus"]


def ev(**kw):
    e = {k: None for k in EV_KEYS}
    e.update(kw)
    return e


def alert(**kw):
    a = {
        "id": None, "incidentId": None, "investigationId": None, "assignedTo": None,
        "severity": "Medium", "status": "New", "classification": None, "determination": None,
        "investigationState": "Queued", "detectionSource": "WindowsDefenderAtp",
        "detectorId": None, "category": "Execution", "threatFamilyName": None, "title": None,
        "description": None, "alertCreationTime": None, "firstEventTime": None,
        "lastEventTime": None, "lastUpdateTime": None, "resolvedTime": None,
        "machineId": None, "computerDnsName": None, "rbacGroupName": None,
        "aadTenantId": TENANT, "threatName": None, "mitreTechniques": [], "relatedUser": None,
        "loggedOnUsers": [], "comments": [], "evidence": [], "domains": [],
    }
    a.update(kw)
    return a


alerts = [
    alert(id="da638351234567890123_-1029384756", incidentId=1201, investigationId=88,
          severity="High", category="CredentialAccess", detectorId="7f3e2a10-2b4c-4d5e-8f90-a1b2c3d4e5f6",
          title="Suspicious access to LSASS service memory",
          description="A process accessed the memory of the Local Security Authority Subsystem.\r\nAttackers do this to steal credentials.\n\u200bReview the process tree.",
          alertCreationTime="2026-11-20T08:14:03.5512301Z", firstEventTime="2026-11-20T08:12:47.1234567Z",
          lastEventTime="2026-11-20T08:12:48.0034Z", lastUpdateTime="2026-11-20T08:14:05.3966667Z",
          machineId="3f9a0c2e4b6d8f1a3c5e7a9b1d3f5a7c9e1b3d5f", computerDnsName="ws-fin-014.corp.contoso.test",
          rbacGroupName="Finance", mitreTechniques=["T1003", "T1003.001"],
          relatedUser={"userName": "jdoe", "domainName": "CONTOSO"},
          loggedOnUsers=[{"accountName": "jdoe", "domainName": "CONTOSO"}],
          evidence=[
              ev(entityType="Process", evidenceCreationTime="2026-11-20T08:14:03.8233333Z",
                 sha1="5e1f0d2c3b4a5968778695a4b3c2d1e0f9a8b7c6", sha256="0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                 fileName="procdump64.exe", filePath="C:\\Users\\jdoe\\AppData\\Local\\Temp", processId=7312,
                 processCommandLine="procdump64.exe -accepteula -ma lsass.exe C:\\Temp\\l.dmp",
                 processCreationTime="2026-11-20T08:12:46.9876543Z", parentProcessId=4120,
                 parentProcessCreationTime="2026-11-20T08:10:02.5Z", parentProcessFileName="cmd.exe",
                 parentProcessFilePath="C:\\Windows\\System32", detectionStatus="Detected"),
              ev(entityType="User", evidenceCreationTime="2026-11-20T08:14:03.8233333Z",
                 accountName="jdoe", domainName="CONTOSO", userSid="S-1-5-21-1111111111-2222222222-3333333333-1104",
                 aadUserId="9d8c7b6a-5f4e-4d3c-8b2a-19f8e7d6c5b4", userPrincipalName="jdoe@contoso.test"),
          ]),
    alert(id="da638351234567890124_1122334455", incidentId=1202, severity="Low", category="Malware",
          detectionSource="WindowsDefenderAv", investigationState="UnsupportedAlertType",
          threatFamilyName="EICAR_Test_File", threatName="Virus:DOS/EICAR_Test_File",
          title="'EICAR_Test_File' malware was detected",
          description="Malware and unwanted software are undesirable applications\u00a0that perform annoying or harmful actions.",
          alertCreationTime="2026-11-20T09:01:11.0001Z", firstEventTime="2026-11-20T09:00:59Z",
          lastEventTime="2026-11-20T09:00:59Z", lastUpdateTime="2026-11-20T09:01:12.84Z",
          machineId="a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", computerDnsName="lab-pc-02",
          loggedOnUsers=[{"accountName": "Lab User", "domainName": "LAB-PC-02"}],
          evidence=[ev(entityType="File", evidenceCreationTime="2026-11-20T09:01:11.2Z",
                       sha1="3395856ce81f2b7382dee72602f798b642f14140",
                       sha256="275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
                       fileName="eicar.com", filePath="C:\\Users\\Lab User\\Downloads", detectionStatus="Prevented")]),
    # Three alerts resolved in one batch: identical lastUpdateTime (a tie).
    *[alert(id=f"da638351234567890{130 + i}_{-500 + i}", incidentId=1203, severity="Informational",
            status="Resolved", classification="InformationalExpectedActivity", determination="SecurityTesting",
            investigationState="Benign", category="Discovery", assignedTo="Automation",
            title="Suspicious network discovery", description="net.exe enumerated domain groups.",
            alertCreationTime=f"2026-11-21T10:0{i}:00.1234567Z", firstEventTime=f"2026-11-21T10:0{i}:00Z",
            lastEventTime=f"2026-11-21T10:0{i}:00Z", lastUpdateTime="2026-11-21T12:30:00.7233333Z",
            resolvedTime="2026-11-21T12:29:59.9876543Z", computerDnsName=f"srv-app-0{i}.corp.contoso.test",
            mitreTechniques=["T1069.002"],
            comments=[{"comment": "Red team exercise RT-2026-11", "createdBy": "soc@contoso.test",
                       "createdTime": "2026-11-21T12:29:58.1234567Z"}],
            evidence=[ev(entityType="Process", evidenceCreationTime="2026-11-21T10:00:01.05Z",
                         fileName="net.exe", filePath="C:\\Windows\\System32", processId=900 + i,
                         processCommandLine="net group \"Domain Admins\" /domain")])
      for i in range(3)],
    alert(id="da638351234567890140_77", incidentId=1210, severity="Medium", category="CommandAndControl",
          title="Connection to a known command-and-control server",
          description="A device connected to an address associated with a known attacker.",
          alertCreationTime="2026-11-22T14:45:30.9Z", firstEventTime="2026-11-22T14:45:01.99Z",
          lastEventTime="2026-11-22T14:45:02.00001Z", lastUpdateTime="2026-11-22T14:45:31.0566667Z",
          computerDnsName="ws-eng-221.corp.contoso.test", rbacGroupName="Engineering",
          mitreTechniques=["T1071.001"],
          evidence=[ev(entityType="Ip", evidenceCreationTime="2026-11-22T14:45:30.9966667Z", ipAddress="203.0.113.77"),
                    ev(entityType="Ip", evidenceCreationTime="2026-11-22T14:45:30.9966667Z", ipAddress="2001:db8::7"),
                    ev(entityType="Url", evidenceCreationTime="2026-11-22T14:45:30.9966667Z",
                       url="https://c2.example.test/beacon?id=42&k=v")]),
    alert(id="ar638352222222222222_8812345", incidentId=1211, investigationId=91, assignedTo="API Action",
          severity="Informational", status="Resolved", investigationState="SuccessfullyRemediated",
          detectionSource="AutomatedInvestigation", category="SuspiciousActivity",
          title="Automated investigation started manually",
          description="An analyst started an automated investigation on ws-eng-221.",
          alertCreationTime="2026-11-22T15:00:00.5648315Z", firstEventTime="2026-11-22T15:00:00Z",
          lastEventTime="2026-11-22T15:00:00Z", lastUpdateTime="2026-11-22T15:05:59.55Z",
          resolvedTime="2026-11-22T15:05:59.4108067Z", computerDnsName="ws-eng-221",
          evidence=[ev(entityType="Registry", evidenceCreationTime="2026-11-22T15:00:01.7733333Z",
                       registryKey="HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                       registryHive="HKEY_LOCAL_MACHINE", registryValueType="String",
                       registryValue="C:\\ProgramData\\upd\\upd.exe -q", registryValueName="Updater")]),
    # No evidence, no machine: an alert from another Defender product.
    alert(id="da0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d_1-extended", incidentId=1212,
          severity="UnSpecified", status="InProgress", detectionSource="MTP", category="InitialAccess",
          assignedTo="soc-tier1@contoso.test", title="Email messages containing malicious URL removed after delivery",
          description="Emails with a malicious URL were delivered and later removed.",
          alertCreationTime="2026-11-23T07:30:00Z", lastUpdateTime="2026-11-23T07:31:00Z",
          evidence=[], rbacGroupName=None, futureField={"score": 0.93, "tags": ["a", "b"]}),
    # Every character that can break a format.
    alert(id="da638359999999999999_-1", incidentId=1300, severity="High", category="Exploit",
          title="Pipe|equals=back\\slash]bracket\"quote^caret\ttab\r\nnewline\u0000nul \U0001F525 \u200b end",
          description="line1\nline2\r\nline3 | a=b \\ ] \" ^\u0000",
          alertCreationTime="2026-11-23T08:00:00.0000001Z", lastUpdateTime="2026-11-23T08:00:01.0000001Z",
          computerDnsName="host|with=odd\\chars", machineId="ffffffffffffffffffffffffffffffffffffffff",
          relatedUser={"userName": "o'brien=admin|x", "domainName": "EVIL\\DOMAIN"},
          evidence=[ev(entityType="File", fileName="a|b=c\\d.exe", filePath="C:\\x]y\"z", sha1="0000000000000000000000000000000000000000",
                       detectionStatus="Detected"),
                    ev(entityType="Url", url="http://example.test/?a=1|2^3\n4")]),
    alert(id="da638360000000000001_42", incidentId=1301, severity="Low", category="Persistence",
          title="Nouvelle tâche planifiée suspecte — 可疑的计划任务",
          description="Une tâche planifiée a été créée par un processus inhabituel. Ünïcödé ✓",
          alertCreationTime="2026-11-23T09:10:10.1Z", firstEventTime="2026-11-23T09:09:59.99999Z",
          lastEventTime="2026-11-23T09:10:00Z", lastUpdateTime="2026-11-23T09:10:11.3133333Z",
          computerDnsName="poste-07.fr.contoso.test", mitreTechniques=["T1053.005"],
          loggedOnUsers=[{"accountName": "Zoë Müller", "domainName": "CONTOSO"}],
          evidence=[ev(entityType="Process", fileName="schtasks.exe", filePath="C:\\Windows\\System32",
                       processId=5555, processCommandLine="schtasks /create /tn \"Mise à jour\" /tr C:\\ProgramData\\m.exe",
                       accountName="zmuller", domainName="CONTOSO", detectionStatus="Detected")]),
    alert(id="da638360000000000002_43", incidentId=1302, severity="Medium", category="DefenseEvasion",
          title="Tampering with Microsoft Defender settings",
          description="An attempt to turn off real-time protection was blocked." + " Details." * 40,
          alertCreationTime="2026-11-23T11:00:00.4Z", lastUpdateTime="2026-11-23T11:00:02.0Z",
          computerDnsName="ws-hr-003.corp.contoso.test", relatedUser={"userName": "kpatel", "domainName": "CONTOSO"},
          evidence=[ev(entityType="Process", fileName=f"tool{i}.exe", filePath="C:\\Tools", processId=6000 + i,
                       sha1=f"{i:040x}", processCommandLine=f"tool{i}.exe --disable-rtp --verbose " + "x" * 120)
                    for i in range(12)]),
]

for a in alerts:
    print(json.dumps(a, ensure_ascii=False, separators=(",", ":")))
