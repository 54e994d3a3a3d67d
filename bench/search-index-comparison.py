#!/usr/bin/env python3
"""Compares three index designs for per-user full-text search on the benchmark dataset.

Usage: bench/search-index-comparison.py [DATABASE_URL]   (default: the chat_bench database)

The database must hold the dataset from `chat-dataset` (docs/dataset.md) and
bench/dataset-summary.json must be the summary it wrote. For the heaviest user (the first
power user) the search query (1,000 newest matches, ranked, 21 headlines) runs with pgbench over
the first 100 "typical" and all "very common" terms of the summary, once per design:

  A  plain GIN on search_vector, filtered to the user's conversations (migration V1)
  B  multicolumn GIN on (participant_ids, search_vector) (migration V3, what we ship)
  C  btree_gin GIN on (conversation_id, search_vector), with conversation_id = ANY(user's ids)

A and C are built here, one at a time (so the planner cannot pick the other one), and
dropped afterwards; B is the index the migrations create. Prints p50/p95/p99 per design.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

URL = sys.argv[1] if len(sys.argv) > 1 else "postgres://postgres@127.0.0.1:5432/chat_bench"
HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = json.load(open(os.path.join(HERE, "dataset-summary.json")))
VIEWER = SUMMARY["power_users"][0]["id"]
# pgbench takes at most 128 scripts (one per term).
TERMS = {
    "typical": [t["term"] if isinstance(t, dict) else t for t in SUMMARY["terms"]["typical"]][:100],
    "very common": [t["term"] for t in SUMMARY["terms"]["very_common"]],
}
ITERATIONS = {"typical": 400, "very common": 200}

V = f"'{VIEWER}'::uuid"
MINE = (
    f"SELECT id FROM conversations WHERE participant1_id = {V} "
    f"UNION ALL SELECT id FROM conversations WHERE participant2_id = {V}"
)
DESIGNS = {
    "A plain GIN + conversation filter": (
        "CREATE INDEX bench_plain_gin ON messages USING gin (search_vector)",
        "bench_plain_gin",
        f"m.conversation_id IN ({MINE})",
    ),
    "B GIN (participant_ids, search_vector)": (None, None, f"m.participant_ids @> ARRAY[{V}]"),
    "C btree_gin (conversation_id, search_vector)": (
        "CREATE INDEX bench_conversation_gin ON messages USING gin (conversation_id, search_vector)",
        "bench_conversation_gin",
        f"m.conversation_id = ANY (ARRAY({MINE}))",
    ),
}


def psql(*commands):
    args = ["psql", URL, "-q", "-v", "ON_ERROR_STOP=1"]
    for c in commands:
        args += ["-c", c]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def script(condition, term):
    q = f"websearch_to_tsquery('english', '{term}')"
    return f"""WITH candidates AS (
  SELECT m.id, m.search_vector FROM messages m
   WHERE {condition} AND m.search_vector @@ {q}
   ORDER BY m.id DESC LIMIT 1000),
ranked AS (SELECT id, ts_rank_cd(search_vector, {q}, 1) AS rank FROM candidates)
SELECT m.id, r.rank, ts_headline('english', m.content, {q}, 'MaxFragments=2')
  FROM (SELECT * FROM ranked ORDER BY rank DESC, id DESC LIMIT 21) r JOIN messages m ON m.id = r.id;
"""


def measure(condition, terms, iterations):
    with tempfile.TemporaryDirectory() as work:
        files = []
        for term in terms:
            path = os.path.join(work, f"{term}.sql")
            with open(path, "w") as f:
                f.write(script(condition, term))
            files += ["-f", path]
        subprocess.run(
            ["pgbench", "-n", "-c", "1", "-t", str(iterations), "-l", *files, URL],
            cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        latencies = []
        for log in glob.glob(os.path.join(work, "pgbench_log.*")):
            latencies += [int(line.split()[2]) / 1000 for line in open(log)]
    latencies.sort()
    pick = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))]
    return f"p50 {pick(0.5):6.2f} ms  p95 {pick(0.95):6.2f} ms  p99 {pick(0.99):6.2f} ms  (n={len(latencies)})"


psql("CREATE EXTENSION IF NOT EXISTS btree_gin")
print(f"viewer {VIEWER} ({SUMMARY['power_users'][0]['conversations']} conversations)")
for name, (create, index, condition) in DESIGNS.items():
    if create:
        psql("SET maintenance_work_mem = '256MB'", create, "ANALYZE messages")
    try:
        for kind, terms in TERMS.items():
            measure(condition, terms, 20)  # warm up
            print(f"{name:46} {kind:12} {measure(condition, terms, ITERATIONS[kind])}", flush=True)
    finally:
        if index:
            psql(f"DROP INDEX {index}")
