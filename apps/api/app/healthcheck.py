"""HEALTHCHECK probe: exit 0 when /health answers 200 (slim images have no curl)."""
import os
import sys
import urllib.request

port = os.environ.get("PORT", "3000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
