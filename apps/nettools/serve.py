"""A tiny HTTP server for lab 07: answers with its pod's name and logs who connected.

Usage: python3 serve.py PORT. Each request is logged as "SOURCE-IP METHOD PATH": the address the
packet arrived from, which is how the lab shows that pod-to-pod traffic is not NATed.
"""
import http.server
import socket
import sys

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


Server(("", int(sys.argv[1])), Handler).serve_forever()
