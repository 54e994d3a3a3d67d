#!/usr/bin/env python3
"""What the connection table's calls cost the DynamoDB emulator (docs/benchmarks.md).

    bench/dynalite-cost.py [PORT] [TABLE] [CALLS]      defaults: 4567, Connections, 3000

Sends CALLS of each form, one after another over one kept-alive connection, three rounds, and
prints the emulator's CPU time per call (from /proc/<pid>/stat; the pid is found by its
listening port with `ss`) and the wall time per call. The forms: what a push's look-up and a
`$connect` send now (`BatchGetItem` of two user items, consistent; `UpdateItem` adding to a
user's set), the look-up without its projection, the same update in the legacy
`AttributeUpdates` form, and what the earlier per-connection layout sent (`Query` on the
`byUser` index, also as legacy `KeyConditions`; `PutItem` of a connection item). The emulator
must be running with the table created: `local/dynalite.sh` (port 4567) or `local/dynoxide.sh`
(port 4577). Requests carry a syntactically valid but unsigned `Authorization` header: both
check the form, not the signature. It writes a few items of its own.
"""

import http.client
import json
import subprocess
import sys
import time


def emulator_pid(port):
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    if "pid=" not in out:
        sys.exit(f"nothing listens on port {port}")
    return int(out.split("pid=", 1)[1].split(",", 1)[0])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4567
    table = sys.argv[2] if len(sys.argv) > 2 else "Connections"
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    pid = emulator_pid(port)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    user = "00000000-0000-0000-0000-000000000001"
    other = "00000000-0000-0000-0000-000000000002"
    names = {"#c": "connections"}
    forms = {
        "BatchGetItem, 2 user items": ("BatchGetItem", {
            "RequestItems": {table: {
                "Keys": [{"connectionId": {"S": f"user#{u}"}} for u in (user, other)],
                "ConsistentRead": True,
                "ProjectionExpression": "connectionId, #c",
                "ExpressionAttributeNames": names,
            }},
        }),
        "BatchGetItem, 2 user items, no projection": ("BatchGetItem", {
            "RequestItems": {table: {
                "Keys": [{"connectionId": {"S": f"user#{u}"}} for u in (user, other)],
                "ConsistentRead": True,
            }},
        }),
        "UpdateItem, ADD to the set": ("UpdateItem", {
            "TableName": table,
            "Key": {"connectionId": {"S": f"user#{user}"}},
            "UpdateExpression": "ADD #c :c SET expiresAt = :e",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":c": {"SS": ["probe="]}, ":e": {"N": "1764807200"}},
        }),
        "UpdateItem, AttributeUpdates (legacy)": ("UpdateItem", {
            "TableName": table,
            "Key": {"connectionId": {"S": f"user#{user}"}},
            "AttributeUpdates": {
                "connections": {"Action": "ADD", "Value": {"SS": ["probe="]}},
                "expiresAt": {"Action": "PUT", "Value": {"N": "1764807200"}},
            },
        }),
        "PutItem, a connection item (earlier layout)": ("PutItem", {
            "TableName": table,
            "Item": {"connectionId": {"S": "probe-legacy="}, "userId": {"S": user},
                     "connectedAt": {"N": "1764800000000"}, "expiresAt": {"N": "1764807200"}},
        }),
        "Query, KeyConditionExpression (earlier layout)": ("Query", {
            "TableName": table,
            "IndexName": "byUser",
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": {":u": {"S": user}},
        }),
        "Query, KeyConditions (legacy, earlier layout)": ("Query", {
            "TableName": table,
            "IndexName": "byUser",
            "KeyConditions": {"userId": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": user}]}},
        }),
    }
    for round_ in range(1, 4):
        for name, (target, body) in forms.items():
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"DynamoDB_20120810.{target}",
                "X-Amz-Date": "20261204T000000Z",
                "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef",
            }
            payload = json.dumps(body)
            cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
            for _ in range(calls):
                connection.request("POST", "/", payload, headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200:
                    sys.exit(f"{name}: {response.status}: {answer.decode()}")
            cpu = (cpu_seconds(pid) - cpu_before) / calls * 1e6
            wall = (time.perf_counter() - wall_before) / calls * 1e6
            print(f"round {round_}, {name}: emulator CPU {cpu:.0f} µs per call, wall {wall:.0f} µs")
    # Leave the table as it was: the probe's connection item and its user's item go.
    for key in ("probe-legacy=", f"user#{user}"):
        headers["X-Amz-Target"] = "DynamoDB_20120810.DeleteItem"
        connection.request("POST", "/", json.dumps({"TableName": table, "Key": {"connectionId": {"S": key}}}), headers)
        connection.getresponse().read()


if __name__ == "__main__":
    main()
