#!/usr/bin/python3
"""HTTP/2 robustness checks for eir-serve (issue 16): what RFC 9113 says a server must survive.

    /usr/bin/python3 tests/h2/conformance.py PORT [SERVER_PID]

Runs against an eir-serve on 127.0.0.1:PORT (loopback only). Each case sends raw frames
(hyperframe + hpack from Debian's python3-h2) and checks that the node answers as the RFC asks,
or closes that connection cleanly, and that another connection is still served within 5 s.
With SERVER_PID, the node's RSS may not grow by more than 64 MB over the whole run. Prints a
Markdown table (docs/reliability.md) and exits 1 when a case fails. Every loop is bounded.
"""
import socket
import sys
import time

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
PID = int(sys.argv[2]) if len(sys.argv) > 2 else None
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED, FRAME_SIZE_ERROR, CANCEL, ENHANCE_YOUR_CALM = 1, 3, 5, 6, 8, 11


def rss_kb():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Conn:
    def __init__(self, preface=PREFACE, settings=None):
        self.s = socket.create_connection((HOST, PORT), timeout=5)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.enc = Encoder()
        self.buf = b""
        self.closed = False
        sf = SettingsFrame(0)
        if settings:
            sf.settings = settings
        self.send_raw(preface + sf.serialize())

    def send_raw(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def send(self, *frames):
        return self.send_raw(b"".join(f.serialize() for f in frames))

    def headers(self, sid, method, path, end_stream=True, end_headers=True, extra=()):
        f = HeadersFrame(sid)
        f.data = self.enc.encode([(":method", method), (":scheme", "http"), (":path", path),
                                  (":authority", "127.0.0.1")] + list(extra))
        f.flags = set()
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        return f

    def frames(self, seconds=2.0, until=None):
        """Frames received within `seconds` (stops early when until(frame) is true or the peer closes)."""
        out = []
        end = time.time() + seconds
        self.s.settimeout(0.05)
        while time.time() < end and not self.closed:
            try:
                chunk = self.s.recv(1 << 16)
                if not chunk:
                    self.closed = True
                    break
                self.buf += chunk
            except socket.timeout:
                pass
            except OSError:
                self.closed = True
                break
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                out.append(f)
                if until and until(f):
                    return out
        return out

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def status_of(conn, frames, sid):
    from hpack import Decoder
    dec = getattr(conn, "dec", None) or Decoder()
    conn.dec = dec
    for f in frames:
        if isinstance(f, HeadersFrame) and f.stream_id == sid:
            return dict(dec.decode(bytes(f.data))).get(":status")
    return None


def served():
    """A fresh connection gets GET /health answered 200 within 5 s."""
    try:
        c = Conn()
        c.send(c.headers(1, "GET", "/health"))
        fr = c.frames(5, until=lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
        ok = status_of(c, fr, 1) == "200"
        c.close()
        return ok
    except OSError:
        return False


def goaway_or_rst(frames, codes):
    for f in frames:
        if isinstance(f, GoAwayFrame) and f.error_code in codes:
            return "GOAWAY(%d)" % f.error_code
        if isinstance(f, RstStreamFrame) and f.error_code in codes:
            return "RST_STREAM(%d)" % f.error_code
    return None


results = []


def case(name, fn):
    t0 = time.time()
    try:
        ok, what = fn()
    except Exception as e:  # a case that cannot even run fails
        ok, what = False, "exception: %r" % e
    still = served()
    results.append((name, ok and still, what + ("" if still else "; another connection was NOT served"),
                    time.time() - t0))


def bad_preface():
    c = Conn(preface=b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    fr = c.frames(3)
    return c.closed, ("closed" if c.closed else "not closed") + (" after GOAWAY" if any(isinstance(f, GoAwayFrame) for f in fr) else "")


def data_on_closed_stream():
    c = Conn()
    c.send(c.headers(1, "GET", "/health"))
    c.frames(3, until=lambda f: isinstance(f, DataFrame) and f.stream_id == 1 and "END_STREAM" in f.flags)
    d = DataFrame(1)
    d.data = b"x" * 10
    c.send(d)
    got = goaway_or_rst(c.frames(3), {STREAM_CLOSED, PROTOCOL_ERROR})
    return got is not None or c.closed, got or ("closed" if c.closed else "ignored")


def window_overflow():
    c = Conn()
    w1, w2 = WindowUpdateFrame(0), WindowUpdateFrame(0)
    w1.window_increment = w2.window_increment = (1 << 31) - 1
    c.send(w1, w2)
    got = goaway_or_rst(c.frames(3), {FLOW_CONTROL_ERROR})
    c2 = Conn()
    c2.send(c2.headers(1, "POST", "/predict", end_stream=False, extra=[("content-type", "application/json")]))
    s1, s2 = WindowUpdateFrame(1), WindowUpdateFrame(1)
    s1.window_increment = s2.window_increment = (1 << 31) - 1
    c2.send(s1, s2)
    got2 = goaway_or_rst(c2.frames(3), {FLOW_CONTROL_ERROR})
    return bool(got and got2), "connection: %s; stream: %s" % (got or "no error", got2 or "no error")


def settings_flood():
    c = Conn()
    burst = SettingsFrame(0).serialize() * 20000
    sent = c.send_raw(burst)
    fr = c.frames(5, until=lambda f: False)
    acks = sum(1 for f in fr if isinstance(f, SettingsFrame) and "ACK" in f.flags)
    return True, "20000 SETTINGS: %d ACKs read%s%s" % (acks, ", connection closed" if c.closed else "",
                                                        "" if sent else " (the server stopped reading)")


def continuation_without_end():
    c = Conn()
    h = c.headers(1, "GET", "/health", end_headers=False)
    c.send(h)
    block = ContinuationFrame(1)
    block.data = b"\x00" * 16000  # never END_HEADERS
    raw = block.serialize()
    sent = 0
    for _ in range(2000):  # up to 32 MB
        if not c.send_raw(raw):
            break
        sent += 1
        if sent % 100 == 0:
            c.frames(0.01)
            if c.closed:
                break
    c.frames(2)
    return c.closed, "%d CONTINUATION frames (%.1f MB) sent before the server closed%s" % (
        sent, sent * 16009 / 1e6, "" if c.closed else ": it did NOT close")


def huge_header_block():
    c = Conn()
    f = c.headers(1, "GET", "/health", end_headers=False, extra=[("x-big", "a" * 200000)])
    data = bytes(f.data)
    first = HeadersFrame(1)
    first.flags = {"END_STREAM"}
    first.data = data[:16000]
    frames = [first]
    rest = data[16000:]
    while rest:
        cf = ContinuationFrame(1)
        cf.data, rest = rest[:16000], rest[16000:]
        cf.flags = set() if rest else {"END_HEADERS"}
        frames.append(cf)
    c.send(*frames)
    fr = c.frames(3, until=lambda f: isinstance(f, (HeadersFrame, GoAwayFrame, RstStreamFrame)))
    st = status_of(c, fr, 1)
    got = goaway_or_rst(fr, set(range(0, 14)))
    ok = c.closed or got is not None or st is not None  # survived: answered, refused or closed cleanly
    return ok, "200 kB of headers: " + (("answered " + st) if st else got or ("closed" if c.closed else "no answer"))


def rapid_reset():
    c = Conn()
    burst = []
    for i in range(5000):
        sid = 2 * i + 1
        rst = RstStreamFrame(sid)
        rst.error_code = CANCEL
        burst.append(c.headers(sid, "GET", "/metrics"))
        burst.append(rst)
    t0 = time.time()
    c.send(*burst)
    fr = c.frames(3)
    got = goaway_or_rst(fr, {ENHANCE_YOUR_CALM, PROTOCOL_ERROR})
    t_other = time.time()
    ok_other = served()
    lat = time.time() - t_other
    return ok_other, "5000 HEADERS+RST_STREAM in %.2f s: %s; another connection answered in %.2f s" % (
        time.time() - t0, got or ("closed" if c.closed else "connection kept"), lat)


def slow_reader():
    c = Conn(settings={4: 0})  # SETTINGS_INITIAL_WINDOW_SIZE 0: the server may send no DATA
    c.send(*[c.headers(2 * i + 1, "GET", "/metrics") for i in range(100)])
    time.sleep(3)
    ok = served()
    c.close()
    return ok, "100 responses held by a zero window for 3 s"


rss0 = rss_kb() if PID else 0
case("bad connection preface", bad_preface)
case("DATA on a closed stream", data_on_closed_stream)
case("flow-control window overflow (connection, stream)", window_overflow)
case("SETTINGS flood", settings_flood)
case("CONTINUATION without END_HEADERS", continuation_without_end)
case("huge header block", huge_header_block)
case("rapid reset (CVE-2023-44487)", rapid_reset)
case("slow reader (zero window)", slow_reader)
rss1 = rss_kb() if PID else 0

print("| case | result | what the node did | seconds |")
print("|---|---|---|---:|")
for name, ok, what, secs in results:
    print("| %s | %s | %s | %.1f |" % (name, "pass" if ok else "**FAIL**", what, secs))
if PID:
    print("\nnode RSS: %d -> %d MB" % (rss0 // 1024, rss1 // 1024))
failed = [r for r in results if not r[1]] or ([("rss",)] if PID and rss1 - rss0 > 65536 else [])
sys.exit(1 if failed else 0)
