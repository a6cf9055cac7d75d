"""The console's client of veil's HTTP API: the same routes curl reaches, called in
process (ASGI, no socket) with the signed-in key as the bearer token."""

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from veil.schemas.errors import VeilError

API = "/api/v1"


@dataclass
class ApiClient:
    """Calls the gateway's own API as `key`; an admin key names `account_id` on each call
    (the account it switched to), an account's key never needs to."""

    app: FastAPI
    key: str
    account_id: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        for_account: bool = True,
    ) -> Any:
        """The decoded JSON answer; an error answer raises it as a `VeilError`."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if for_account and self.account_id is not None:
            query["account_id"] = self.account_id
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://console", timeout=30
        ) as client:
            response = await client.request(
                method,
                API + path,
                params=query,
                json=json,
                headers={"authorization": f"Bearer {self.key}"},
            )
        if response.status_code == 204:
            return None
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise VeilError(
                response.status_code,
                error.get("message", "request failed"),
                error.get("metadata"),
            )
        return body

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params)

    async def data(self, path: str, **params: Any) -> Any:
        return (await self.get(path, **params))["data"]
