"""A threaded Python script (run with PYTHONMALLOC=malloc): producer threads build lists of dicts and
strings and hand them through a queue to consumer threads, which transform and drop them (so objects are
freed by another thread than the one that allocated them). Prints a checksum independent of the schedule."""
import queue
import sys
import threading

producers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
batches = int(sys.argv[2]) if len(sys.argv) > 2 else 400
size = int(sys.argv[3]) if len(sys.argv) > 3 else 500
q = queue.Queue(maxsize=64)
results = []
lock = threading.Lock()


def produce(p):
    for b in range(batches):
        batch = [{"k": f"{p}:{b}:{i}", "v": [i, i * 2, str(i)], "s": "abc" * (i % 10)} for i in range(size)]
        q.put(batch)


def consume():
    local = 0
    while True:
        batch = q.get()
        if batch is None:
            break
        joined = "|".join(d["k"] + d["s"] for d in batch)
        local += len(joined) + sum(d["v"][1] for d in batch)
        words = {w: len(w) for w in joined.split("|")}
        local += len(words)
    with lock:
        results.append(local)


consumers = [threading.Thread(target=consume) for _ in range(2)]
for t in consumers:
    t.start()
prods = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
for t in prods:
    t.start()
for t in prods:
    t.join()
for _ in consumers:
    q.put(None)
for t in consumers:
    t.join()
print("py_threads", producers, batches, size, sum(results))
