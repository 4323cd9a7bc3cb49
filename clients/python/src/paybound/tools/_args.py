"""The tools' inputs as pydantic models: one schema, which every framework module presents.

pydantic comes with each supported framework, so only the framework modules import this.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from . import CATALOG_LIMIT_DEFAULT

#: The governor's own bounds (a URL of 2048 characters, a body of 64 KiB, 50 headers).
URL_CHARS_MAX = 2048
BODY_CHARS_MAX = 64 * 1024
USD_PATTERN = r"^\d+(\.\d{1,6})?$"


class PaidFetchArgs(BaseModel):
    url: str = Field(description="The http(s) URL to fetch.", max_length=URL_CHARS_MAX)
    method: str = Field(default="GET", description="The HTTP method: GET, POST, PUT, PATCH, DELETE or HEAD.")
    headers: dict[str, str] | None = Field(default=None, description="Request headers, if the endpoint needs any.")
    body: str | None = Field(
        default=None, description="A request body, for POST, PUT and PATCH.", max_length=BODY_CHARS_MAX
    )
    max_price: str | None = Field(
        default=None, description='The most to pay for this one request, in USD, such as "0.05".', pattern=USD_PATTERN
    )


class SessionBalanceArgs(BaseModel):
    pass


class SearchCatalogArgs(BaseModel):
    query: str | None = Field(
        default=None, description="Words to search for, such as 'weather forecast'.", max_length=200
    )
    max_price: str | None = Field(
        default=None, description='Only endpoints at most this price in USD, such as "0.05".', pattern=USD_PATTERN
    )
    network: str | None = Field(default=None, description="Only this network (CAIP-2, such as eip155:8453).")
    limit: int = Field(default=CATALOG_LIMIT_DEFAULT, ge=1, le=100, description="How many endpoints to list.")
