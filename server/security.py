"""Response headers that keep the pages safe to embed nowhere and to load only from here.

An app-wide ``after_request`` hook: every response gets ``nosniff`` and a
referrer policy; HTML responses also get a Content-Security-Policy unless a
blueprint already set its own.
"""

from quart import Quart

# Scripts, styles and pictures from this origin only; the socket is same-origin ('self' covers ws/wss in CSP 3).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app: Quart) -> None:
    @app.after_request
    async def secure_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
