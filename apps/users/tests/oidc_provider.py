"""A tiny OpenID Connect provider on 127.0.0.1 for the sign-in tests.

It serves the discovery document, an authorization endpoint that approves
at once as `FakeProvider.subject`, a token endpoint that checks the client's
secret, the code and its PKCE verifier and returns an id_token signed with a
fresh RSA key, the userinfo endpoint and the key set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "dstack-test-client"
CLIENT_SECRET = "dstack-test-secret"


@dataclass
class FakeProvider:
    url: str = ""
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "user-42",
            "preferred_username": "Grace.Hopper",
            "email": "grace@example.com",
            "email_verified": True,
            "name": "Grace Hopper",
        }
    )
    key: Any = field(
        default_factory=lambda: rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    def authorize(self, query: dict[str, str]) -> str:
        """Return the redirect back to the client with a new code."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        params = {"code": code, "state": query.get("state", "")}
        return query["redirect_uri"] + "?" + urlencode(params)

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != (
            CLIENT_SECRET
        ):
            return 401, {"error": "invalid_client"}
        request = self.codes.pop(form.get("code", ""), None)
        if request is None or form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        if "code_challenge" in request:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != request["code_challenge"]:
                return 400, {"error": "invalid_grant"}

        now = int(time.time())
        claims = {
            **self.claims,
            "iss": self.url,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
        }
        if "nonce" in request:
            claims["nonce"] = request["nonce"]
        id_token = jwt.encode(
            claims, self.key, algorithm="RS256", headers={"kid": "test"}
        )
        access_token = secrets.token_urlsafe(16)
        self.tokens.add(access_token)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "test", "use": "sig", "alg": "RS256"}]}


def _handler(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            provider.requests.append("GET " + parts.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif parts.path == "/authorize":
                self.send_response(302)
                self.send_header("Location", provider.authorize(query))
                self.end_headers()
            elif parts.path == "/userinfo":
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if bearer not in provider.tokens:
                    self._json(401, {"error": "invalid_token"})
                else:
                    self._json(200, provider.claims)
            elif parts.path == "/jwks":
                self._json(200, provider.jwks())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            provider.requests.append("POST " + self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if self.path == "/token":
                self._json(*provider.token(form))
            else:
                self._json(404, {"error": "not_found"})

    return Handler


def serve() -> Iterator[FakeProvider]:
    """Run a FakeProvider on a free port of 127.0.0.1 until the generator closes."""
    provider = FakeProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
