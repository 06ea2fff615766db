#!/usr/bin/env python3
"""The least a card on vpcd can be: the anchor of compare's APDU/s row.

It connects to a vpcd slot (pcscd's vpcd driver listens, the card connects)
and speaks vpcd's framing directly: every message is a 2-byte big-endian
length and that many bytes. A 1-byte message is a control byte (0 power off,
1 power on, 2 reset, 4 send the ATR); the ATR request is answered with the
ATR, the others with nothing. Any longer message is a command APDU, answered
9000 whatever it says. No parsing, no state, no card: what is left is the
socket, the framing and Python's loop, so kazasu card's APDU/s against this
one's, through the same pcscd in the same run, says what the card's own
transport costs beyond the minimum.

    python3 benches/anchors/echo_card.py [--host 127.0.0.1] [--port 35964]
"""

import argparse
import socket
import struct

# A plain T=1 ATR with no historical bytes beyond what pcscd needs.
ATR = bytes.fromhex("3B8080010101")
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4
OK = struct.pack(">H", 2) + b"\x90\x00"


def read_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        # vpcd writes the length and the APDU in two writes, and its socket
        # waits for our ACK of the first before sending the second (Nagle):
        # acknowledge at once, not after the kernel's delayed-ACK timer
        # (~40 ms). Linux clears the flag again, so it is set before each read.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("vpcd closed the connection")
        data += chunk
    return bytes(data)


def serve(sock):
    while True:
        (length,) = struct.unpack(">H", read_exactly(sock, 2))
        message = read_exactly(sock, length)
        if length == 1:
            if message[0] == GET_ATR:
                sock.sendall(struct.pack(">H", len(ATR)) + ATR)
            # power off, power on and reset need no answer
        else:
            sock.sendall(OK)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=35964)
    args = parser.parse_args()
    sock = socket.create_connection((args.host, args.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        serve(sock)
    except (ConnectionError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
