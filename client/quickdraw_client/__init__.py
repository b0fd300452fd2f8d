"""A client for the Quick, Draw! Live socket (``/ws``, protocol ``quickdraw.v1``); needs only ``websockets``.

``Client`` matches answers to requests, paces itself under the server's rate
limit and keeps the socket alive. A game round from a script::

    import asyncio

    from quickdraw_client import Client


    async def play():
        async with Client("ws://127.0.0.1:5000/ws") as client:
            game = await client.start("game", word="ladder")
            print("draw", game["word"], "in", game["time_limit_s"], "s")
            for x in (60, 180):  # the two rails, top to bottom
                guess = await client.stroke([x, x], [0, 255])
                if guess is None:  # the round was over before this stroke: client.verdict says won or timed out
                    break
                print(", ".join(f"{g['word']} {g['p']:.2f}" for g in guess["guesses"][:3]))
            final = await client.end()  # the saved drawing, also when the round was won already
            print(final["type"], final["id"], "recognized" if final["recognized"] else "not recognized")


    asyncio.run(play())

Install it alone with ``pip install ./client`` (from the repository); the
protocol is docs/PROTOCOL.md.
"""

from quickdraw_client.client import Client
from quickdraw_client.wire import ServerClosed, ServerError

__all__ = ["Client", "ServerClosed", "ServerError"]
