"""A tiny HTTP server for lab 07: answers with its pod's name and logs who connected.

Usage: python3 serve.py PORT [PORT...]. Each request is logged as "SOURCE-IP METHOD PATH": the address
the packet arrived from, which is how the lab shows that pod-to-pod traffic is not NATed. More ports than
one: the same server on each (a pod outside the policies listening where postgres and redis do tells an
egress rule that names ports only, with no destination, from one that names postgres and redis).
"""
import http.server
import socket
import sys
import threading

NAME = socket.gethostname()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{NAME}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(f"{self.client_address[0]} {self.command} {self.path}", flush=True)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a probe that connects and hangs up (the kubelet's readiness probe) is not an error


servers = [Server(("", int(port)), Handler) for port in sys.argv[1:]]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
