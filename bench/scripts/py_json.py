"""A JSON round trip (run with PYTHONMALLOC=malloc): builds a nested document of dicts, lists, strings
and numbers, serialises it with json.dumps, parses it back with json.loads, checks that the result equals
the original, edits it and repeats. Prints the sizes and a hash of the last text."""
import hashlib
import json
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
items = int(sys.argv[2]) if len(sys.argv) > 2 else 20000


def document(r):
    return {
        "round": r,
        "items": [
            {"id": i, "name": f"item-{i}-{r}", "price": (i * 37 % 1000) / 10, "ok": i % 3 == 0,
             "attrs": {"color": ["red", "green", "blue"][i % 3], "sizes": list(range(i % 7)),
                       "note": "x" * (i % 40)}}
            for i in range(items)
        ],
    }


total = 0
text = ""
doc = document(0)
for r in range(rounds):
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    if back != doc:
        print("error: JSON round trip changed the document", file=sys.stderr)
        sys.exit(1)
    total += len(text)
    for it in back["items"][r::5]:
        it["attrs"]["note"] += "y"
        it["name"] = it["name"].upper()
    back["round"] = r + 1
    doc = back
print("py_json", rounds, items, total, hashlib.sha256(text.encode()).hexdigest()[:16])
