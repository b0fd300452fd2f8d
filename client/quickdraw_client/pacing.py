"""The client's own token bucket: it sends under the server's rate limit instead of being refused."""

import time


class TokenBucket:
    """Allows ``rate`` messages per second on average and bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._last = float(burst), clock()

    def take(self) -> bool:
        """Spend a token; False (and nothing spent) when there is none yet: see ``retry_after``."""
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def retry_after(self) -> float:
        """Seconds until a token is there (0 when one is)."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
