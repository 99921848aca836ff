#!/usr/bin/env python3
"""A stand-in transcription server for load runs (scripts/load.sh --preview-stub).

    transcription-stub.py PORT SECONDS [burn]

Answers every POST /v1/audio/transcriptions with a fixed OpenAI-style verbose_json transcript
after SECONDS: asleep, or with "burn" spinning a CPU for that long (each request in a process
of its own, so requests in parallel burn in parallel, as an engine's threads would). Not a
speech recogniser: it measures the gateway's queue, not recognition. Start it under `nice` to
play an engine that yields to the calls.
"""

import http.server
import json
import socketserver
import sys
import time

PORT = int(sys.argv[1])
SECONDS = float(sys.argv[2])
BURN = len(sys.argv) > 3 and sys.argv[3] == "burn"

ANSWER = json.dumps(
    {
        "task": "transcribe",
        "language": "en",
        "text": "This is a load test message.",
        "segments": [
            {
                "id": 0,
                "start": 0.0,
                "end": 2.0,
                "text": " This is a load test message.",
                "avg_logprob": -0.1,
                "no_speech_prob": 0.01,
            }
        ],
    }
).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        until = time.monotonic() + SECONDS
        if BURN:
            while time.monotonic() < until:
                sum(range(10000))
        else:
            time.sleep(SECONDS)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ANSWER)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(ANSWER)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway gave up at its deadline

    def log_message(self, *args):
        pass


class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    request_queue_size = 256


Server(("127.0.0.1", PORT), Handler).serve_forever()
