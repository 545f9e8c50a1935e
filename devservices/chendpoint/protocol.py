"""The part of ClickHouse's HTTP interface that clickhouse-connect (and curl) use.

Pure functions: they turn URL parameters, headers and body bytes into what the
engine runs. Reference: ClickHouse's "HTTP Interface" documentation.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from io import BufferedIOBase
from typing import BinaryIO
from urllib.parse import parse_qsl

import lz4.frame

# URL parameters that configure the HTTP exchange rather than the query. ClickHouse
# reads them in its HTTP handler; they are not engine settings, so the endpoint
# takes or ignores them instead of passing them to the engine:
#   session_id, session_timeout, session_check - sessions: every request here is
#       stateless (clickhouse-connect sends a session id by default);
#   compress, decompress, enable_http_compression, http_zlib_compression_level -
#       responses are sent uncompressed, request bodies are decompressed by
#       their Content-Encoding whatever these say;
#   wait_end_of_query, buffer_size, http_response_buffer_size - responses are
#       always buffered whole before they are sent;
#   send_progress_in_http_headers, http_headers_progress_interval_ms - no
#       progress headers are sent;
#   cancel_http_readonly_queries_on_client_close - nothing to cancel mid-way;
#   client_protocol_version - Native output is always protocol 0.
HTTP_ONLY_PARAMETERS = frozenset({
    "session_id", "session_timeout", "session_check",
    "compress", "decompress", "enable_http_compression", "http_zlib_compression_level",
    "wait_end_of_query", "buffer_size", "http_response_buffer_size",
    "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "cancel_http_readonly_queries_on_client_close", "client_protocol_version",
})

# Parameters the endpoint reads itself.
REQUEST_PARAMETERS = frozenset({"query", "database", "default_format", "query_id", "user", "password", "quota_key"})

DEFAULT_FORMAT = "TabSeparated"
READ_CHUNK = 1 << 20

_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n|/\*.*?\*/)*", re.S)
_INSERT_WITH_FORMAT = re.compile(r"^(\s*INSERT\s.*?)\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.I | re.S)
_INLINE_INSERT = re.compile(r"^(\s*INSERT\s.*?)\bFORMAT\s+([A-Za-z0-9_]+)[ \t]*\r?\n?", re.I | re.S)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.I)


class BadRequest(Exception):
    """The HTTP request itself is malformed (HTTP 400)."""


@dataclass
class Credentials:
    user: str
    password: str


@dataclass
class QueryRequest:
    query: str = ""
    database: str | None = None
    default_format: str = DEFAULT_FORMAT
    query_id: str | None = None
    quota_key: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def parse_url_parameters(query_string: str) -> QueryRequest:
    request = QueryRequest()
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name.startswith("param_"):
            request.params[name[len("param_"):]] = value
        elif name == "query":
            request.query = value
        elif name == "database":
            request.database = value or None
        elif name == "default_format":
            request.default_format = value or DEFAULT_FORMAT
        elif name == "query_id":
            request.query_id = value or None
        elif name == "quota_key":
            request.quota_key = value
        elif name in REQUEST_PARAMETERS or name in HTTP_ONLY_PARAMETERS:
            continue
        else:
            request.settings[name] = value
    return request


def credentials(headers: Mapping[str, str] | Message, query_string: str) -> Credentials:
    """The user as ClickHouse finds it: X-ClickHouse-User/Key, basic auth, or URL."""
    if headers.get("X-ClickHouse-User"):
        return Credentials(headers["X-ClickHouse-User"], headers.get("X-ClickHouse-Key", ""))
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("Malformed basic authorization header") from None
        user, _, password = decoded.partition(":")
        return Credentials(user or "default", password)
    url = dict(parse_qsl(query_string, keep_blank_values=True))
    return Credentials(url.get("user") or "default", url.get("password", ""))


def apply_form(request: QueryRequest, body: bytes, content_type: str) -> None:
    """Take `query` and `param_*` from a multipart/form-data body into `request`.

    clickhouse-connect sends queries this way when their parameters are too large
    for a URL. Fields that carry files are external tables, which are not supported.
    """
    message = BytesParser().parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise BadRequest("Malformed multipart/form-data body")
    for part in message.get_payload():
        if not isinstance(part, EmailMessage | Message):
            raise BadRequest("Malformed multipart/form-data body")
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            raise BadRequest("External data (form files) is not supported by this endpoint")
        if not isinstance(name, str | None):
            raise BadRequest("Malformed form field name")
        payload = part.get_payload(decode=True)
        value = payload.decode("utf-8") if isinstance(payload, bytes) else ""
        if name == "query":
            request.query = f"{request.query}\n{value}" if request.query else value
        elif name and name.startswith("param_"):
            request.params[name[len("param_"):]] = value
        elif name:
            raise BadRequest(f"Unsupported form field: {name}")


def split_insert(query: str) -> tuple[str, str] | None:
    """`INSERT ... FORMAT F` (data to follow) -> (statement without FORMAT, F)."""
    match = _INSERT_WITH_FORMAT.match(_strip_comments(query))
    return (match.group(1), match.group(2)) if match else None


def split_inline_insert(text: bytes) -> tuple[str, str, bytes] | None:
    """`INSERT ... FORMAT F\\n<data>` in one text -> (statement, F, data)."""
    head = text[:65536].decode("utf-8", "replace")
    stripped = _strip_comments(head)
    match = _INLINE_INSERT.match(stripped)
    if not match:
        return None
    data_start = len(head[: len(head) - len(stripped) + match.end()].encode("utf-8"))
    return match.group(1), match.group(2), text[data_start:]


def from_infile(statement: str, path: str, fmt: str) -> str:
    """`INSERT INTO t (cols) [SETTINGS ...]` -> the same insert reading its rows from `path`.

    ClickHouse's grammar puts `FROM INFILE` after the column list and before any
    SETTINGS clause, so the statement is split at its top-level SETTINGS keyword
    (one outside quotes and parentheses).
    """
    head, settings = statement, ""
    for word, start in _words(statement, include_nested=False):
        if word.upper() == "SETTINGS":
            head, settings = statement[:start], statement[start:].rstrip() + " "
            break
    return f"{head.rstrip()} FROM INFILE {quote_literal(path)} {settings}FORMAT {fmt}"


def has_keyword(query: str, keyword: str) -> bool:
    """Whether `keyword` stands in `query` as a bare word (not in a string, a quoted
    name or a comment)."""
    return any(word.upper() == keyword for word, _ in _words(query, include_nested=True))


def is_multi_statement(query: str) -> bool:
    """Whether another statement follows a `;` (clickhouse-server runs one statement a request)."""
    tokens = [word for word, _ in _words(query, include_nested=True)]
    return ";" in tokens and any(token != ";" for token in tokens[tokens.index(";"):])


def first_keyword(query: str) -> str:
    words = _words(query, include_nested=False)
    return words[0][0].upper() if words else ""


def without_format(query: str) -> str:
    """`query` less a trailing FORMAT clause."""
    return _TRAILING_FORMAT.sub("", query.rstrip().rstrip(";"))


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _words(text: str, include_nested: bool) -> list[tuple[str, int]]:
    """Bare words and `;` of `text` with their positions, skipping quoted strings, quoted
    identifiers and comments, and (unless include_nested) anything inside parentheses."""
    words, depth, i = [], 0, 0
    while i < len(text):
        char = text[i]
        if char in "'\"`":
            i = _end_of_quoted(text, i)
        elif text.startswith("--", i):
            i = _after(text, "\n", i)
        elif text.startswith("/*", i):
            i = _after(text, "*/", i + 2)
        elif char == "(":
            depth, i = depth + 1, i + 1
        elif char == ")":
            depth, i = max(0, depth - 1), i + 1
        elif char == ";":
            words.append((";", i))
            i += 1
        elif char.isalpha() or char == "_":
            match = _WORD.match(text, i)
            assert match is not None  # text[i] starts a word
            if depth == 0 or include_nested:
                words.append((match.group(), i))
            i = match.end()
        else:
            i += 1
    return words


def _after(text: str, marker: str, start: int) -> int:
    end = text.find(marker, start)
    return len(text) if end < 0 else end + len(marker)


def _end_of_quoted(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            if text.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return len(text)


def output_format(query: str, default: str) -> str:
    match = _TRAILING_FORMAT.search(query)
    return match.group(1) if match else default


def _strip_comments(query: str) -> str:
    match = _LEADING_COMMENTS.match(query)  # the pattern also matches nothing, so always
    return query[match.end():] if match else query


def read_body(stream: BinaryIO | BufferedIOBase, headers: Mapping[str, str] | Message) -> Iterator[bytes]:
    """The request body in chunks: Content-Length or chunked transfer encoding."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        yield from _read_chunked(stream)
        return
    try:
        remaining = int(headers.get("Content-Length") or 0)
    except ValueError:
        raise BadRequest("Malformed Content-Length") from None
    yield from _read_exactly(stream, remaining, "Request body ended before Content-Length")


def _read_chunked(stream: BinaryIO | BufferedIOBase) -> Iterator[bytes]:
    while True:
        size_line = stream.readline(1024)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("Malformed chunk size in chunked body") from None
        if size == 0:
            # Skip trailers up to the blank line that ends the body.
            while stream.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return
        yield from _read_exactly(stream, size, "Chunked body ended early")
        stream.readline(16)  # the CRLF after each chunk


def _read_exactly(stream: BinaryIO | BufferedIOBase, size: int, ended_early: str) -> Iterator[bytes]:
    """`size` bytes of `stream` in pieces of at most READ_CHUNK; BadRequest(`ended_early`) if it ends first."""
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(READ_CHUNK, remaining))
        if not chunk:
            raise BadRequest(ended_early)
        remaining -= len(chunk)
        yield chunk


def decompress(chunks: Iterator[bytes], encoding: str | None) -> Iterator[bytes]:
    """Undo the request's Content-Encoding (what clickhouse-connect compresses with)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        yield from chunks
        return
    if encoding == "lz4":
        decompressor = lz4.frame.LZ4FrameDecompressor()
        for chunk in chunks:
            yield decompressor.decompress(chunk)
        return
    if encoding in ("gzip", "deflate"):
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
        for chunk in chunks:
            yield decompressor.decompress(chunk)
        yield decompressor.flush()
        return
    if encoding == "zstd":
        try:
            from compression import zstd  # Python 3.14+
        except ImportError:
            from backports import zstd  # installed with clickhouse-connect
        decompressor = zstd.ZstdDecompressor()
        for chunk in chunks:
            yield decompressor.decompress(chunk)
        return
    raise BadRequest(f"Unsupported Content-Encoding: {encoding}")
