"""Send N HTTP requests and count who answered (lab 07's Gateway and Ingress exercises).

Usage: python3 fetch.py URL N [HOST]   HOST sets the Host header (what the Gateway routes on).
Prints one JSON object: {"answers": {body: count, ...}, "statuses": {code: count, ...}}.
One kept-alive connection: the gateway still chooses a backend for every request.
"""
import collections
import http.client
import json
import sys
import urllib.parse

url, n = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2])
headers = {"Host": sys.argv[3]} if len(sys.argv) > 3 else {}
answers, statuses = collections.Counter(), collections.Counter()
conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=3)
for _ in range(n):
    try:
        conn.request("GET", url.path or "/", headers=headers)
        reply = conn.getresponse()
        body = reply.read().decode().strip()
        statuses[reply.status] += 1
        if reply.status == 200:
            answers[body] += 1
    except (OSError, http.client.HTTPException) as exc:
        statuses[exc.__class__.__name__] += 1
        conn.close()  # the next request opens a new connection
print(json.dumps({"answers": answers, "statuses": statuses}))
