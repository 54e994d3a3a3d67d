#!/usr/bin/env python3
"""What one connection look-up costs the DynamoDB emulator (docs/benchmarks.md, "What sets the knee").

    bench/dynalite-cost.py [PORT] [TABLE] [QUERIES]      defaults: 4567, Connections, 3000

Sends QUERIES `Query` calls on the `byUser` index, one after another over one kept-alive
connection, as the send path does (`KeyConditionExpression`), then as many in the legacy
`KeyConditions` form, three rounds, and prints the emulator's CPU time per call (from
/proc/<pid>/stat; the pid is found by its listening port with `ss`) and the wall time per call.
The emulator must be running with the table created (`local/dynalite.sh`). Requests carry a
syntactically valid but unsigned `Authorization` header: dynalite checks the form, not the
signature.
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
    queries = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    pid = emulator_pid(port)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.Query",
        "X-Amz-Date": "20261204T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef",
    }
    user = {"S": "00000000-0000-0000-0000-000000000001"}
    forms = {
        "KeyConditionExpression": {
            "TableName": table,
            "IndexName": "byUser",
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": {":u": user},
        },
        "KeyConditions (legacy)": {
            "TableName": table,
            "IndexName": "byUser",
            "KeyConditions": {"userId": {"ComparisonOperator": "EQ", "AttributeValueList": [user]}},
        },
    }
    for round_ in range(1, 4):
        for name, body in forms.items():
            payload = json.dumps(body)
            cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
            for _ in range(queries):
                connection.request("POST", "/", payload, headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200:
                    sys.exit(f"{response.status}: {answer.decode()}")
            cpu = (cpu_seconds(pid) - cpu_before) / queries * 1e6
            wall = (time.perf_counter() - wall_before) / queries * 1e6
            print(f"round {round_}, {name}: emulator CPU {cpu:.0f} µs per call, wall {wall:.0f} µs")


if __name__ == "__main__":
    main()
