"""A TCP proxy a test owns, in front of a shared server: cut it to make that server "go away".

The machine's PostgreSQL serves every engineer's tests, so it is never stopped: the service under
test reaches it through this proxy instead, and the proxy refuses connections (and cuts the open
ones) for as long as the test wants. It keeps listening while it refuses: it resets each new
connection instead of closing its port, because a port let go could be taken by another test
(pytest-xdist runs several at once) before the proxy listens again.
"""

from __future__ import annotations

import asyncio


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target``; ``refuse`` and ``accept`` switch it off and on."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Reset new connections and cut every open one, as a server that went away."""
        self._refusing = True
        self._cut_all()

    async def accept(self) -> None:
        """Take connections again."""
        self._refusing = False

    async def close(self) -> None:
        self._refusing = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._cut_all()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(sink)
            sink.transport.abort()
