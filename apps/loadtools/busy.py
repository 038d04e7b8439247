"""A web server that works for its answers, for lab 10: each request burns CPU, so load shows up as CPU use.

Usage: python3 busy.py PORT. GET /?ms=N spends N milliseconds of CPU (default 20) and answers with the pod's
name; GET /healthz answers at once. Each request runs in a thread of its own: a pod uses as much CPU as its
limit lets it, which is what the HorizontalPodAutoscaler measures against the pod's request.
"""
import http.server
import socket
import sys
import time
from urllib.parse import parse_qs, urlsplit

NAME = socket.gethostname()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/healthz":
            ms = float(parse_qs(url.query).get("ms", ["20"])[0])
            end = time.thread_time() + ms / 1000  # CPU time, not wall time: a throttled pod takes longer
            while time.thread_time() < end:
                pass
        body = f"{NAME}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # thousands of requests: the load generator counts them


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-answer (the load generator stopping) is not an error


Server(("", int(sys.argv[1])), Handler).serve_forever()
