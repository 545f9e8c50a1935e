"""Pure request-parsing logic of the embedded endpoint, and the engine's address (no engine involved)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import lz4.frame
import pytest

from devservices.chendpoint.engine import engine_address
from devservices.chendpoint.protocol import (
    BadRequest,
    credentials,
    decompress,
    from_infile,
    has_keyword,
    output_format,
    parse_url_parameters,
    read_body,
    split_inline_insert,
    split_insert,
)
from devservices.chendpoint.server import ParseCache


def test_url_parameters_split_into_settings_params_and_http_only_ones():
    request = parse_url_parameters(
        "query=SELECT+1&database=db&default_format=JSON&query_id=q1&param_symbol=ENTG"
        "&max_threads=2&session_id=abc&wait_end_of_query=1&compress=1"
    )
    assert (request.query, request.database, request.default_format, request.query_id) == (
        "SELECT 1", "db", "JSON", "q1")
    assert request.params == {"symbol": "ENTG"}
    assert request.settings == {"max_threads": "2"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("INSERT INTO t (a, b) FORMAT Native", ("INSERT INTO t (a, b) ", "Native")),
        ("  -- why\ninsert into db.t format TabSeparated\n", ("insert into db.t ", "TabSeparated")),
        ("INSERT INTO t VALUES (1)", None),
        ("SELECT 1 FORMAT JSON", None),
    ],
)
def test_split_insert(query, expected):
    assert split_insert(query) == expected


def test_split_inline_insert_keeps_data_bytes_exact():
    text = "INSERT INTO t FORMAT CSV\n1,\"é\"\n2,x\n".encode()
    assert split_inline_insert(text) == ("INSERT INTO t ", "CSV", '1,"é"\n2,x\n'.encode())
    assert split_inline_insert(b"INSERT INTO t VALUES (1)") is None


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("INSERT INTO t (a, b) ", "INSERT INTO t (a, b) FROM INFILE '/s/x' FORMAT Native"),
        ("INSERT INTO t (settings, b) SETTINGS async_insert = 0 ",
         "INSERT INTO t (settings, b) FROM INFILE '/s/x' SETTINGS async_insert = 0 FORMAT Native"),
        ("INSERT INTO `settings` ", "INSERT INTO `settings` FROM INFILE '/s/x' FORMAT Native"),
    ],
)
def test_from_infile_goes_before_the_settings_clause(statement, expected):
    assert from_infile(statement, "/s/x", "Native") == expected


def test_has_keyword_ignores_strings_names_and_comments():
    assert has_keyword("INSERT INTO t FROM INFILE 'x' FORMAT TSV", "INFILE")
    assert has_keyword("SELECT 1 INTO /* a */ outfile '/tmp/x'", "OUTFILE")
    assert has_keyword("SELECT (SELECT 1 INTO OUTFILE 'x')", "OUTFILE")
    assert not has_keyword("SELECT 'INTO OUTFILE' AS `infile` -- infile", "INFILE")
    assert not has_keyword("SELECT 'it''s INFILE' AS x", "INFILE")


def test_output_format():
    assert output_format("SELECT 1 FORMAT JSONEachRow", "TabSeparated") == "JSONEachRow"
    assert output_format("SELECT 'FORMAT JSON' AS x", "TabSeparated") == "TabSeparated"


def test_chunked_body_is_reassembled():
    raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    assert b"".join(read_body(io.BytesIO(raw), {"Transfer-Encoding": "chunked"})) == b"hello world"


def test_truncated_or_malformed_bodies_are_bad_requests():
    with pytest.raises(BadRequest):
        b"".join(read_body(io.BytesIO(b"abc"), {"Content-Length": "10"}))
    with pytest.raises(BadRequest):
        b"".join(read_body(io.BytesIO(b"zz\r\n"), {"Transfer-Encoding": "chunked"}))
    with pytest.raises(BadRequest, match="Chunked body ended early"):
        b"".join(read_body(io.BytesIO(b"a\r\nabc"), {"Transfer-Encoding": "chunked"}))


@pytest.mark.parametrize(("encoding", "compress"), [("lz4", lz4.frame.compress), ("gzip", gzip.compress)])
def test_decompression(encoding, compress):
    payload = b"1\t2\n" * 10000
    body = compress(payload)
    chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    assert b"".join(decompress(iter(chunks), encoding)) == payload


def test_unknown_encoding_is_refused():
    with pytest.raises(BadRequest):
        list(decompress(iter([b"x"]), "snappy"))


def test_credentials_from_headers_basic_auth_and_url():
    assert credentials({"X-ClickHouse-User": "u", "X-ClickHouse-Key": "k"}, "") .__dict__ == {"user": "u", "password": "k"}
    assert credentials({"Authorization": "Basic dTpwOnE="}, "").__dict__ == {"user": "u", "password": "p:q"}
    assert credentials({}, "user=a&password=b").__dict__ == {"user": "a", "password": "b"}
    assert credentials({}, "").__dict__ == {"user": "default", "password": ""}


def test_multipart_form_carries_query_and_parameters():
    from devservices.chendpoint.protocol import QueryRequest, apply_form

    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nSELECT {s:String}\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"param_s\"\r\n\r\n" + "ÅÄ".encode() + b"A" * 10000 +
        b"\r\n--XyZ--\r\n"
    )
    request = QueryRequest()
    apply_form(request, body, "multipart/form-data; boundary=XyZ")
    assert request.query == "SELECT {s:String}"
    assert request.params == {"s": "ÅÄ" + "A" * 10000}


class CountingConnection:
    """What ParseCache reads of a pooled connection; counts the parses it asks for."""

    def __init__(self):
        self.profile, self.settings, self.parses = {"readonly": "1"}, {}, 0

    def query(self, sql: str, fmt: str, params: dict) -> tuple[bytes, None]:
        self.parses += 1
        return f"SelectWithUnionQuery (children 1)\n {sql} {sorted(params.items())}".encode(), None


def test_a_parse_is_kept_under_its_text_parameters_and_settings():
    parses, connection = ParseCache(), CountingConnection()
    first = parses.parse(connection, "SELECT {x:UInt8}", {"x": "1"})
    assert parses.parse(connection, "SELECT {x:UInt8}", {"x": "2"}) == first  # a value is a literal
    assert connection.parses == 1
    parses.parse(connection, "SELECT {x:UInt8}", {"y": "1"})
    connection.settings = {"dialect": "kusto"}  # another parse of the same text
    parses.parse(connection, "SELECT {x:UInt8}", {"x": "1"})
    assert connection.parses == 3


def test_a_query_that_may_name_a_table_by_parameter_is_parsed_for_each_value():
    parses, connection = ParseCache(), CountingConnection()
    for table in ("trademonitor.trades", "system.processes"):
        assert table in parses.parse(connection, "SELECT * FROM {t: identifier}", {"t": table})
    assert connection.parses == 2


def test_parses_kept_are_bounded_in_number_and_size():
    parses, connection = ParseCache(), CountingConnection()
    for n in range(ParseCache.MAX_ENTRIES + 1):
        parses.parse(connection, f"SELECT {n}", {})
    parses.parse(connection, "SELECT 0", {})  # the oldest went
    huge = "SELECT '" + "x" * ParseCache.MAX_ENTRY_CHARS + "'"
    parses.parse(connection, huge, {})
    parses.parse(connection, huge, {})
    assert connection.parses == ParseCache.MAX_ENTRIES + 1 + 1 + 2


def test_the_engine_s_address_names_its_configuration_and_refuses_a_directory_chdb_would_misread():
    assert engine_address(Path("/data/ch"), Path("/etc/engine.xml")) == "/data/ch?config-file=/etc/engine.xml"
    with pytest.raises(ValueError, match="parameters"):
        engine_address(Path("/data/ch?mode=ro"))
