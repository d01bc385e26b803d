"""A TCP proxy on loopback, for fault tests: `python tcp_proxy.py LISTEN_PORT TARGET_PORT`. Killing
it makes its port refuse connections, as a stopped endpoint does; starting it again on the same port
brings the endpoint back with the target's state intact.

SIGUSR1 stalls it: connections are still accepted and read, but nothing is passed on either way,
so a client waits on its request, as on an endpoint that hangs, at no CPU cost. SIGUSR2 lets the
held bytes through again. A third argument stalls it the same way as soon as a client sends those
bytes (e.g. one HTTP request line), printing "stalled on <bytes>": a process can then be killed at
exactly that request."""

import signal
import socket
import sys
import threading

flowing = threading.Event()
flowing.set()


STALL_ON: bytes | None = None


def pipe(src: socket.socket, dst: socket.socket, from_client: bool = False) -> None:
    try:
        while data := src.recv(65536):
            if from_client and STALL_ON is not None and STALL_ON in data:
                flowing.clear()
                print(f"stalled on {STALL_ON.decode()}", flush=True)
            flowing.wait()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client: socket.socket, target_port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
    pipe(upstream, client)


def main() -> None:
    global STALL_ON
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    STALL_ON = sys.argv[3].encode() if len(sys.argv) > 3 else None
    signal.signal(signal.SIGUSR1, lambda *_: flowing.clear())
    signal.signal(signal.SIGUSR2, lambda *_: flowing.set())
    server = socket.create_server(("127.0.0.1", listen_port))
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, target_port), daemon=True).start()


if __name__ == "__main__":
    main()
