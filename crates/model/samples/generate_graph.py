#!/usr/bin/env python3
"""Writes graph_alerts.ndjson: synthetic Microsoft Graph alerts_v2 alerts (invented data, the
shape of the public documentation sample: 7-digit fractions, nulls, `@odata.type` on every
evidence item, lowercase enums, undocumented fields, several products and evidence types,
one unknown evidence type per non-Endpoint product, one alert full of hostile characters).

Run from this directory: python3 generate_graph.py > graph_alerts.ndjson
"""
import json

TENANT = "0b9c1f7e-5d2a-4c3b-9e8f-1a2b3c4d5e6f"
T = "#microsoft.graph.security."


def common(kind, created, **kw):
    e = {"@odata.type": T + kind, "createdDateTime": created, "verdict": "suspicious",
         "remediationStatus": "none", "remediationStatusDetails": None, "roles": [],
         "detailedRoles": [], "tags": []}
    e.update(kw)
    return e


def account(name, domain, sid=None, upn=None, aad=None, display=None):
    return {"accountName": name, "domainName": domain, "userSid": sid, "azureAdUserId": aad,
            "userPrincipalName": upn, "displayName": display}


def file(name, path, sha1, sha256, size):
    return {"sha1": sha1, "sha256": sha256, "fileName": name, "filePath": path,
            "fileSize": size, "filePublisher": None, "signer": None, "issuer": None}


def alert(n, **kw):
    aid = kw.pop("id", None) or f"da638400000000{n:06d}_{-1000000 - n}"
    a = {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": aid, "providerAlertId": aid, "incidentId": str(3000 + n), "status": "new",
        "severity": "medium", "classification": None, "determination": None,
        "serviceSource": "microsoftDefenderForEndpoint", "detectionSource": "microsoftDefenderForEndpoint",
        "productName": "Microsoft Defender for Endpoint",
        "detectorId": f"5d8c2f1a-0b3e-4a6d-9c7f-{n:012d}", "tenantId": TENANT, "title": None,
        "description": None, "recommendedActions": None, "category": "Execution",
        "assignedTo": None,
        "alertWebUrl": f"https://security.microsoft.com/alerts/{aid}?tid={TENANT}",
        "incidentWebUrl": f"https://security.microsoft.com/incidents/{3000 + n}?tid={TENANT}",
        "actorDisplayName": None, "threatDisplayName": None, "threatFamilyName": None,
        "mitreTechniques": [], "createdDateTime": None, "lastUpdateDateTime": None,
        "resolvedDateTime": None, "firstActivityDateTime": None, "lastActivityDateTime": None,
        "comments": [], "evidence": [], "systemTags": [], "alertPolicyId": None,
        "additionalData": {},
    }
    a.update(kw)
    return a


C = "2026-11-21T09:00:01.1234567Z"
ALERTS = [
    alert(1, severity="high", title="Credential dumping via LSASS memory access",
          description="A process read LSASS memory.\r\nAttackers do this to steal credentials.",
          recommendedActions="Isolate the device.\n\tReview the process tree.",
          category="CredentialAccess", detectionSource="antivirus",
          threatDisplayName="HackTool:Win32/Mimikatz", threatFamilyName="Mimikatz",
          mitreTechniques=["T1003", "T1003.001"], createdDateTime=C,
          lastUpdateDateTime="2026-11-21T09:02:44.5566667Z",
          firstActivityDateTime="2026-11-21T08:59:58.001Z",
          lastActivityDateTime="2026-11-21T09:00:00.12Z",
          evidence=[
              common("deviceEvidence", C, mdeDeviceId="3f9a0c2e4b6d8f1a3c5e7a9b1d3f5a7c9e1b3d5f",
                     azureAdDeviceId=None, deviceDnsName="ws-fin-014.corp.contoso.test",
                     osPlatform="Windows11", osBuild=22631, version="23H2",
                     healthStatus="active", riskScore="high", rbacGroupId=12,
                     rbacGroupName="Finance", onboardingStatus="onboarded",
                     defenderAvStatus="updated", ipInterfaces=["10.20.30.40", "fe80::1"],
                     loggedOnUsers=[{"accountName": "jdoe", "domainName": "CONTOSO"}],
                     vmMetadata=None, roles=["compromised"]),
              common("userEvidence", C, userAccount=account(
                  "jdoe", "CONTOSO", "S-1-5-21-1004336348-1177238915-682003330-1104",
                  "jdoe@contoso.test", "6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b", "Jane Doe")),
              common("processEvidence", C, processId=7312, parentProcessId=5520,
                     processCommandLine="procdump64.exe -accepteula -ma lsass.exe out.dmp",
                     processCreationDateTime="2026-11-21T08:59:58.0012345Z",
                     parentProcessCreationDateTime="2026-11-21T07:10:01.5Z",
                     detectionStatus="detected",
                     mdeDeviceId="3f9a0c2e4b6d8f1a3c5e7a9b1d3f5a7c9e1b3d5f",
                     imageFile=file("procdump64.exe", "C:\\Users\\jdoe\\AppData\\Local\\Temp",
                                    "5e1f0d2c3b4a5968778695a4b3c2d1e0f9a8b7c6",
                                    "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                                    415128),
                     parentProcessImageFile=file("cmd.exe", "C:\\Windows\\System32", None, None, 289792),
                     userAccount=account("jdoe", "CONTOSO")),
              common("ipEvidence", C, ipAddress="203.0.113.17", countryLetterCode="NL"),
              common("registryKeyEvidence", C, registryKey="SYSTEM\\CurrentControlSet\\Control\\Lsa",
                     registryHive="HKEY_LOCAL_MACHINE"),
          ]),
    alert(2, severity="medium", title="Phishing email delivered to a mailbox",
          serviceSource="microsoftDefenderForOffice365", detectionSource="microsoftDefenderForOffice365",
          productName="Microsoft Defender for Office 365", category="InitialAccess",
          description="A message containing a phishing URL was delivered.", status="inProgress",
          assignedTo="soc-tier1@contoso.test", mitreTechniques=["T1566.002"],
          createdDateTime="2026-11-21T10:15:00.0000001Z",
          lastUpdateDateTime="2026-11-21T10:20:30.7000000Z",
          comments=[{"comment": "Looking into it", "createdByDisplayName": "soc-tier1@contoso.test",
                     "createdDateTime": "2026-11-21T10:20:30.7000000Z"}],
          evidence=[
              common("mailboxEvidence", "2026-11-21T10:15:00.0000001Z",
                     primaryAddress="amy.lee@contoso.test", displayName="Amy Lee",
                     userAccount=account("amy.lee", "contoso.test", upn="amy.lee@contoso.test")),
              common("urlEvidence", "2026-11-21T10:15:00.0000001Z",
                     url="https://login.contoso-support.example/session?u=amy&next=%2Fmail"),
              common("analyzedMessageEvidence", "2026-11-21T10:15:00.0000001Z",
                     networkMessageId="0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                     internetMessageId="<AB12CD@mail.example>", subject="Your mailbox is full",
                     senderIp="198.51.100.23", recipientEmailAddress="amy.lee@contoso.test",
                     p1Sender={"emailAddress": "it-help@contoso-support.example", "displayName": "IT Help"},
                     deliveryAction="delivered", urls=["https://login.contoso-support.example/session"]),
              common("ipEvidence", "2026-11-21T10:15:00.0000001Z", ipAddress="198.51.100.23",
                     countryLetterCode=None),
          ]),
    alert(3, severity="low", title="Suspected brute-force attack (LDAP)",
          serviceSource="microsoftDefenderForIdentity", detectionSource="microsoftDefenderForIdentity",
          productName="Microsoft Defender for Identity", category="CredentialAccess",
          classification="truePositive", determination="multiStagedAttack", status="resolved",
          createdDateTime="2026-11-21T11:00:00.5Z", lastUpdateDateTime="2026-11-21T12:00:00.0000000Z",
          resolvedDateTime="2026-11-21T12:00:00.0000000Z",
          evidence=[
              common("userEvidence", "2026-11-21T11:00:00.5Z",
                     userAccount=account("svc-backup", "CONTOSO", "S-1-5-21-1-2-3-2201")),
              common("deviceEvidence", "2026-11-21T11:00:00.5Z", deviceDnsName="dc01.corp.contoso.test",
                     mdeDeviceId=None, osPlatform="WindowsServer2022", ipInterfaces=None,
                     loggedOnUsers=None),
              common("ipEvidence", "2026-11-21T11:00:00.5Z", ipAddress="2001:db8::23"),
          ]),
    # A tie with the previous alert on lastUpdateDateTime, from another product.
    alert(4, severity="informational", title="Activity from an infrequent country",
          serviceSource="microsoftDefenderForCloudApps", detectionSource="cloudAppSecurity",
          productName="Microsoft Defender for Cloud Apps", category="InitialAccess",
          createdDateTime="2026-11-21T11:58:12.25Z", lastUpdateDateTime="2026-11-21T12:00:00.0000000Z",
          evidence=[
              common("cloudApplicationEvidence", "2026-11-21T11:58:12.25Z", appId=11161,
                     displayName="Office 365", instanceId=0, instanceName="Office 365",
                     saasAppId=11161),
              common("userEvidence", "2026-11-21T11:58:12.25Z",
                     userAccount=account("amy.lee", "contoso.test", upn="amy.lee@contoso.test",
                                         aad="1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")),
              common("ipEvidence", "2026-11-21T11:58:12.25Z", ipAddress="192.0.2.44", countryLetterCode="BR"),
          ]),
    alert(5, severity="high", title="Unfamiliar sign-in properties",
          serviceSource="azureAdIdentityProtection", detectionSource="azureAdIdentityProtection",
          productName="Microsoft Entra ID Protection", category="InitialAccess",
          incidentId=None, incidentWebUrl=None,
          createdDateTime="2026-11-21T13:01:02.0303030Z", lastUpdateDateTime="2026-11-21T13:05:00.9999999Z",
          evidence=[
              common("userEvidence", "2026-11-21T13:01:02.0303030Z",
                     userAccount=account("bob", "contoso.test", upn="bob@contoso.test")),
              common("ipEvidence", "2026-11-21T13:01:02.0303030Z", ipAddress="198.51.100.200"),
          ]),
    alert(6, severity="medium", title="DLP policy match: credit card numbers shared externally",
          serviceSource="microsoftDataLossPrevention", detectionSource="microsoftDataLossPrevention",
          productName="Microsoft Purview Data Loss Prevention", category="Exfiltration",
          createdDateTime="2026-11-21T14:00:00Z", lastUpdateDateTime="2026-11-21T14:00:01.1000000Z",
          evidence=[
              common("fileEvidence", "2026-11-21T14:00:00Z", detectionStatus=None, mdeDeviceId=None,
                     fileDetails=file("Q4 cards.xlsx", "https://contoso.sharepoint.example/sites/fin/Shared Documents",
                                      None, "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0", 48213)),
              common("userEvidence", "2026-11-21T14:00:00Z",
                     userAccount=account("carol", "contoso.test", upn="carol@contoso.test")),
          ]),
    alert(7, severity="unknownFutureValue", title="Suspicious role assignment on a subscription",
          serviceSource="microsoftSentinel", detectionSource="scheduledAlerts",
          productName="Microsoft Sentinel", category="PrivilegeEscalation",
          status="someNewStatus", detectorId=None,
          createdDateTime="2026-11-21T15:00:00.1Z", lastUpdateDateTime="2026-11-21T15:00:00.1234567Z",
          customDetails={"Subscription": ["8700d3a3"]},
          evidence=[
              common("azureResourceEvidence", "2026-11-21T15:00:00.1Z",
                     resourceId="/subscriptions/8700d3a3/resourceGroups/rg-prod",
                     resourceName="rg-prod", resourceType="Microsoft.Resources/resourceGroups"),
              {"@odata.type": T + "aiAgentEvidence", "agentName": "helper", "roles": ["attacker"]},
          ]),
    # Hostile content in every field a format shows.
    alert(8, severity="high",
          title="Evil | title = x ] \" \\ with\nnewline\r and\x00NUL and ^ caret\ttab",
          description="line1\nCEF:0|Forged|Event|1|x|y|10|src=6.6.6.6\n<13>1 - forged - - - -",
          category="Execution|Forged", classification="falsePositive]",
          determination="x=y", assignedTo="a\\b", threatDisplayName="t|=\\]",
          createdDateTime="2026-11-21T16:00:00Z", lastUpdateDateTime="2026-11-21T16:00:00.0000001Z",
          evidence=[
              common("deviceEvidence", "2026-11-21T16:00:00Z", deviceDnsName="host\nforged=1 | x",
                     mdeDeviceId="id|=]"),
              common("userEvidence", "2026-11-21T16:00:00Z",
                     userAccount=account("us=er|x", "DOM]\\")),
              common("fileEvidence", "2026-11-21T16:00:00Z",
                     fileDetails=file("a=b|c.exe", "C:\\x\\\"y\"]", "ab|cd", "ef=gh", 1)),
              common("urlEvidence", "2026-11-21T16:00:00Z", url="http://x/?a=b|c\nd"),
              common("mailboxEvidence", "2026-11-21T16:00:00Z", primaryAddress="m=a|i]l@x\n"),
              common("ipEvidence", "2026-11-21T16:00:00Z", ipAddress="not-an-ip|=x"),
          ]),
]

for a in ALERTS:
    print(json.dumps(a, ensure_ascii=False, separators=(",", ":")))
