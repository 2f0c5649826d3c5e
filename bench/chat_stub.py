"""The tests' OpenAI wire-format stub (tests/stubs/openai_stub.py) in a process of its own, for bench/chat.py.

    .venv/bin/python bench/chat_stub.py --api-key sk-... --answer "Words of the answer ..."

Prints its base URL (``http://127.0.0.1:PORT/v1``) as the first line of stdout, then serves until SIGTERM,
SIGINT or the end of stdin (bench/chat.py holds a pipe to it, so the stub also ends when the benchmark
dies; ``harness.announce_and_wait``). Its own process so that the stub's threads and the benchmark's
client event loop do not share one interpreter lock: in one process, every chunk the stub writes would
compete with the SDK parsing chunks, and the direct measurements would carry that contention.

One change from the tests' stub, made here rather than in tests/: the listen backlog. ``socketserver``
listens with a backlog of 5, so 50 clients connecting at once overflow the accept queue and the kernel
drops SYNs, which the clients retransmit a second later. A real provider endpoint does not do that
(uvicorn listens with 2048), so the stub here listens with ``BACKLOG``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, beside this file
import harness

from tests.stubs import _Server
from tests.stubs.openai_stub import OpenAIStub

BACKLOG = 1024
MODEL = "gpt-4o-mini"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--answer", required=True, help=f"what {MODEL} answers, streamed word by word")
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    args = parser.parse_args()

    _Server.request_queue_size = args.backlog
    stub = OpenAIStub(api_key=args.api_key)
    stub.answers[MODEL] = args.answer
    stub.start()
    try:
        harness.announce_and_wait(stub.base_url)
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
