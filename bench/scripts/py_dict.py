"""Dict and str churn (run with PYTHONMALLOC=malloc so every object is a malloc call): builds records as
dicts of formatted strings, indexes them by several keys, rewrites and deletes them in rounds, and
prints a checksum. Deterministic with PYTHONHASHSEED=0 (the suite sets it)."""
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40000
checksum = 0
index = {}
for r in range(rounds):
    records = []
    for i in range(n):
        key = f"user-{(i * 7919 + r) % (n * 3):07d}"
        rec = {"id": key, "name": "name" + str(i % 997) * (1 + i % 3), "round": r,
               "tags": [f"t{(i + k) % 50}" for k in range(i % 5)], "score": (i * 31 + r) % 1000}
        records.append(rec)
        index.setdefault(key, []).append(rec)
    by_tag = {}
    for rec in records:
        for t in rec["tags"]:
            by_tag.setdefault(t, set()).add(rec["id"])
    words = " ".join(rec["name"] for rec in records[::3]).split()
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    checksum = (checksum * 31 + sum(len(v) for v in by_tag.values()) + len(counts)) % (1 << 61)
    # Drop older entries so memory churns rather than grows.
    for key in list(index)[: len(index) // 2]:
        checksum = (checksum + sum(rec["score"] for rec in index.pop(key))) % (1 << 61)
    checksum = (checksum + len("".join(sorted(counts)[:1000]))) % (1 << 61)
print("py_dict", rounds, n, len(index), checksum)
