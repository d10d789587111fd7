"""Instagram API client: OAuth tokens, profile and media, signed callback requests."""

from bot.instagram.client import (
    DEFAULT_API_URL,
    DEFAULT_GRAPH_URL,
    DEFAULT_GRAPH_VERSION,
    InstagramClient,
)
from bot.instagram.errors import (
    RATE_LIMIT_CODES,
    AuthorizationCodeError,
    InstagramError,
    InstagramUnavailableError,
    InvalidTokenError,
    RateLimitError,
)
from bot.instagram.models import (
    LongLivedToken,
    MediaItem,
    MediaPage,
    MediaType,
    Profile,
    ShortLivedToken,
)
from bot.instagram.signed_request import (
    InvalidSignedRequest,
    SignedRequest,
    build_signed_request,
    parse_signed_request,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_GRAPH_URL",
    "DEFAULT_GRAPH_VERSION",
    "RATE_LIMIT_CODES",
    "AuthorizationCodeError",
    "InstagramClient",
    "InstagramError",
    "InstagramUnavailableError",
    "InvalidSignedRequest",
    "InvalidTokenError",
    "LongLivedToken",
    "MediaItem",
    "MediaPage",
    "MediaType",
    "Profile",
    "RateLimitError",
    "ShortLivedToken",
    "SignedRequest",
    "build_signed_request",
    "parse_signed_request",
]
