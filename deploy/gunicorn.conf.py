"""gunicorn settings for the admin server: `gunicorn -c deploy/gunicorn.conf.py 'admin:create_app()'`.

gthread workers: uploads and media downloads are I/O-bound, and threads keep memory low. Nothing is
kept in process memory between requests, so workers (and servers) can be added freely.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# gthread with a timeout on every read and a deadline for the request's headers: a client that
# dribbles bytes must not hold a thread (admin/gunicorn_worker.py; nginx shields it in production).
worker_class = "admin.gunicorn_worker.DeadlineThreadWorker"
# One process per core (up to 4); threads give the concurrency. More processes than cores made
# each request of an upload land in a process whose memory had left the CPU's caches: on 2 cores,
# tus goodput went from 65 to 89 MB/s with 2 workers instead of 4 (bench/bench_sync.py).
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# Long enough for a slow kiosk upload chunk over library Wi-Fi.
timeout = 120
graceful_timeout = 30
keepalive = 5
# What a request may carry before the app sees it (gunicorn answers 400/431 itself). Kiosks send
# a bearer token and tus headers (Upload-Metadata: a few hundred bytes); staff browsers a cookie.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# Connections a worker holds at once, idle ones included (gunicorn waits for their first bytes
# without a thread); nginx's limit_conn per address keeps one client from taking them all.
worker_connections = 1000
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
