"""The copy waits for a worker's answer only while it also waits for room in the pipe of
every worker with bytes still to send: a worker that needs its file's last bytes (or the
end frame) to answer is never left waiting for them until its deadline."""

from __future__ import annotations

import array
import fcntl
import os
import signal
import termios
import threading
import time

from vmguard.quarantine.detect import FLUSH_BYTES, Detector
from vmguard.quarantine.detect_process import _F_SETPIPE_SZ

PAGE = os.sysconf("SC_PAGE_SIZE")  # the smallest pipe there is


def _queued(fd: int) -> int:
    """Bytes in a pipe that its reader has not read."""
    n = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, n)
    return n[0]


def _resume_once_full(pid: int, fd: int, stop: threading.Event) -> None:
    """A worker slowed down: let it run again only once its pipe is full."""
    while not stop.is_set() and _queued(fd) < PAGE:
        time.sleep(0.001)
    os.kill(pid, signal.SIGCONT)


def test_the_last_bytes_of_a_file_are_sent_while_the_copy_waits_for_its_answer():
    timeout = 5.0
    with Detector(workers=1, timeout=timeout) as detector:
        assert detector.submit(b"hello\n").result().mime == "text/plain"  # started
        worker = detector.workers[0]
        assert fcntl.fcntl(worker.wfd, _F_SETPIPE_SZ, PAGE) == PAGE
        os.kill(worker.proc.pid, signal.SIGSTOP)
        stop = threading.Event()
        resume = threading.Thread(target=_resume_once_full, args=(worker.proc.pid, worker.wfd, stop))
        resume.start()
        try:
            upload = detector.begin()
            upload.feed(b"plain text\n" * (FLUSH_BYTES // 16))  # held back: less than a flush
            pending = upload.end()
            start = time.monotonic()
            answer = pending.result()  # the pipe fills: most of the file is still unsent
            took = time.monotonic() - start
        finally:
            stop.set()
            resume.join()
        assert answer is not None, pending.why_none()
        assert answer.mime == "text/plain"
        assert took < timeout / 2
        assert detector.workers == [worker]  # not killed and replaced


def test_many_files_through_small_pipes_are_all_answered():
    """Two workers with one-page pipes, one of them stopped until its pipe is full: every
    file gets its own answer, in order, none is given up."""
    heads = [(b"plain text %d\n" % i) * (300 + 97 * (i % 40)) if i % 3 else b'{"n": %d}' % i for i in range(300)]
    with Detector(workers=2, timeout=5.0) as detector:
        detector.start()
        assert detector.submit(b"hello\n").result() and detector.submit(b"hello\n").result()
        for worker in detector.workers:
            fcntl.fcntl(worker.wfd, _F_SETPIPE_SZ, PAGE)
        slow = detector.workers[0]
        os.kill(slow.proc.pid, signal.SIGSTOP)
        stop = threading.Event()
        resume = threading.Thread(target=_resume_once_full, args=(slow.proc.pid, slow.wfd, stop))
        resume.start()
        try:
            pending = [detector.submit(h) for h in heads]
            got = [p.result() for p in pending]
        finally:
            stop.set()
            resume.join()
        assert [a and a.mime for a in got] == ["text/plain" if i % 3 else "application/json" for i in range(300)]
        assert len({w.proc.pid for w in detector.workers} | {slow.proc.pid}) == 2  # none replaced
